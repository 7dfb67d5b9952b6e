"""Passage focus (qa/focus.py): long passages cut to the sentences closest to the question."""

from datetime import date

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from fakes import DesignedEmbeddings, MemoryStore
from qa.citations import lexical_scorer
from qa.focus import focus_passages, focus_text
from qa.service import QAService
from qa.settings import Settings
from qa.types import Chunk, Passage

FLOODS = ("Rain fell for three days across the valley. Roads to the north were closed by the police. "
          "The river rose to 4.2 metres at the Carlton bridge on Sunday. Schools stayed shut. "
          "Farmers said the harvest was lost, and the mayor asked for federal help on Monday.")


def test_a_passage_that_fits_is_left_whole():
    assert focus_text("How high did the river rise?", FLOODS, lexical_scorer, len(FLOODS)) == FLOODS
    assert focus_text("How high did the river rise?", FLOODS, lexical_scorer, 0) == FLOODS


def test_long_passage_keeps_the_sentences_closest_to_the_question_in_article_order():
    out = focus_text("How high did the river rise at the Carlton bridge?", FLOODS, lexical_scorer, 90)
    assert out == "… The river rose to 4.2 metres at the Carlton bridge on Sunday. …"
    question = "Which roads were closed, and who asked for federal help?"
    three = focus_text(question, FLOODS, lexical_scorer, 190)
    assert three == ("Rain fell for three days across the valley. Roads to the north were closed by the police. … "
                     "Farmers said the harvest was lost, and the mayor asked for federal help on Monday.")
    assert len(three) <= 190


def test_the_first_sentence_comes_right_after_the_best_one():
    # The lede often names what a question-like sentence leaves out (a realtimeqa quake report: "northern
    # Luzon" in the best sentence, "the northern Philippines" in the lede): it is kept before the roads
    # sentence, which scores higher but no longer fits.
    question = "Which roads were closed, and who asked for federal help?"
    two = focus_text(question, FLOODS, lexical_scorer, 150)
    assert two == ("Rain fell for three days across the valley. … Farmers said the harvest was lost, and the mayor "
                   "asked for federal help on Monday.")


def test_the_best_sentence_is_kept_even_when_it_alone_is_over_the_budget():
    out = focus_text("What did the farmers and the mayor say?", FLOODS, lexical_scorer, 30)
    assert out == "… Farmers said the harvest was lost, and the mayor asked for federal help on Monday."


def test_focus_changes_the_shown_text_only():
    chunk = Chunk(chunk_id="c1", article_id="a1", text=FLOODS, title="Floods", source="t", url="",
                  published=date(2026, 3, 2), language="en", position=0, article_hash="h")
    (p,) = focus_passages("How high did the river rise?", [Passage(1, chunk, 0.5, FLOODS)], lexical_scorer, 90)
    assert p.chunk.text == FLOODS and p.n == 1 and p.score == 0.5
    assert p.display_text.startswith("… The river rose")


class RecordingChat(GenericFakeChatModel):
    """Scripted replies; keeps the prompts it was given."""

    prompts: list = []

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.prompts.append("\n".join(str(m.content) for m in messages))
        return super()._generate(messages, stop, run_manager, **kwargs)


def focused_service(tmp_path, article: str, reply: str, focus_chars: int) -> tuple[QAService, "RecordingChat"]:
    """A service over one article (fakes, lexical scorer) whose model records its prompts and says `reply`."""
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "article.txt").write_text(article, encoding="utf-8")
    emb = DesignedEmbeddings()
    llm = RecordingChat(messages=iter([AIMessage(content=reply)]), prompts=[])
    svc = QAService(settings=Settings(index_dir=tmp_path / "idx", k=3, translate_queries=False,
                                      focus_chars=focus_chars),
                    embeddings=emb, store=MemoryStore(emb), llm=llm, scorer=lexical_scorer)
    svc.ingest([folder])
    return svc, llm


def test_the_model_reads_the_focused_passage_and_the_citation_quotes_a_sentence_it_read(tmp_path):
    svc, llm = focused_service(tmp_path, "date 2026-03-02\nValley floods\n\n" + FLOODS,
                               "The river rose to 4.2 metres at the Carlton bridge [1].", 120)
    answer = svc.ask("How high did the river rise at the Carlton bridge?", as_of="2026-03-03")
    (prompt,) = llm.prompts
    assert "The river rose to 4.2 metres at the Carlton bridge on Sunday (= Sunday 1 March 2026)." in prompt
    assert "Farmers said" not in prompt and "Schools stayed shut" not in prompt
    (citation,) = answer.citations
    assert citation.quote == "The river rose to 4.2 metres at the Carlton bridge on Sunday."
    assert "focus" in answer.timings_ms


def test_evaluation_focuses_on_the_question_without_its_options(tmp_path):
    svc, llm = focused_service(tmp_path, "date 2026-03-02\nValley floods\n\n" + FLOODS, "4.2 metres [1].", 90)
    question = "How high did the river rise at the Carlton bridge?"
    passages = svc.chain.retriever.retrieve(question, date(2026, 3, 3))
    # Option words that match another sentence would pull it in if the options were scored too.
    svc.chain.invoke(question, date(2026, 3, 3), passages=passages,
                     options=["farmers harvest lost mayor federal help Monday"])
    (prompt,) = llm.prompts
    assert "The river rose to 4.2 metres" in prompt and "Farmers said" not in prompt


ECB = ("The council kept its deposit rate at 2% on Thursday. Inflation stood near the target in May. "
       "Several members argued for patience and for more data. A further move is possible at the meeting in "
       "December, one member said.")


def test_the_coverage_check_reads_the_passages_whole(tmp_path):
    # Focus may leave out the one sentence that names the question's period; the chain must still see that the
    # passage speaks of December and ask the model instead of answering "they do not reach December".
    svc, llm = focused_service(tmp_path, "date 2025-06-05\nECB holds\n\n" + ECB,
                               "The council kept its deposit rate at 2% [1].", 60)
    answer = svc.ask("What deposit rate did the council keep in December 2025?", as_of="2025-12-20")
    (prompt,) = llm.prompts
    assert "meeting in December" not in prompt  # focus did cut that sentence
    assert not answer.abstained and "2%" in answer.text


def test_a_clipped_neighbour_keeps_its_mark_and_is_not_taken_for_the_lede():
    # The sentence window clipped the previous chunk's text to a fragment starting with "…".
    text = "…officials said on Sunday. " + FLOODS
    out = focus_text("How high did the river rise at the Carlton bridge?", text, lexical_scorer, 120)
    assert out == ("… Rain fell for three days across the valley. … The river rose to 4.2 metres at the Carlton "
                   "bridge on Sunday. …")
    first = focus_text("What did officials say on Sunday?", text, lexical_scorer, 40)
    assert first.startswith("… officials said on Sunday.")
