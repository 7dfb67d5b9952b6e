"""Context assembly: syndicated copies collapse, the prompt budget holds, the optional reranker reorders."""

from __future__ import annotations

import pytest

from fakes import DesignedEmbeddings, MemoryStore, scripted_llm
from qa.retrieve.context import collapse_duplicates, fit_budget, near_duplicates, sentences, widen
from qa.retrieve.retriever import Retriever
from qa.service import QAService
from qa.settings import Settings
from qa.types import Chunk, Passage
from vectorstore.base import Record

STORY = ("Thieves took crown jewels from the Louvre on Sunday morning using a lift truck parked on the quay, "
         "and fled on scooters within minutes, the Paris prosecutor said.")


def _meta(article, day=20251019):
    return {"article_id": article, "position": 0, "title": article, "source": f"{article}.example",
            "published": "2025-10-19", "published_int": day, "language": "en", "url": "", "article_hash": article}


def test_near_duplicates_ignore_small_wire_edits():
    copy = STORY.replace("Sunday morning", "Sunday") + " (Reporting by AFP)"
    assert near_duplicates(STORY, copy)
    assert not near_duplicates(STORY, "The ECB held its deposit rate at 2% on Thursday in Frankfurt.")


def test_syndicated_copies_take_one_place_among_the_passages():
    store = MemoryStore(DesignedEmbeddings())
    store.upsert([Record("afp", STORY, _meta("afp")), Record("copy", STORY + " Updated.", _meta("copy")),
                  Record("other", "Louvre jewels: the museum reopened on Wednesday.", _meta("other"))])
    passages = Retriever(store, store.embeddings, k=3).retrieve("Louvre jewels thieves")
    ids = [p.chunk.chunk_id for p in passages]
    assert "other" in ids and len({"afp", "copy"} & set(ids)) == 1
    assert [p.n for p in passages] == list(range(1, len(passages) + 1))
    assert collapse_duplicates(["x", "afp"], {"afp": STORY}) == ["x", "afp"]


def test_budget_keeps_the_leading_passages_that_fit():
    def passage(n, chars):
        chunk = Chunk(chunk_id=str(n), article_id="a", text="x" * chars, position=n, title="t", source="s",
                      published=None, language="en", url=None, article_hash="h")
        return Passage(n=n, chunk=chunk, score=1.0)

    passages = [passage(i, 640) for i in range(1, 6)]  # ~208 tokens of text + 30 of header each
    assert len(fit_budget(passages, 480)) == 2 and len(fit_budget(passages, 470)) == 1
    assert len(fit_budget(passages, 10)) == 1  # never empty
    assert len(fit_budget(passages, 5000)) == 5


class WordReranker:
    """A fake cross-encoder: the more question words a text holds, the higher it scores."""

    def __init__(self):
        self.calls = 0

    def score(self, question, texts):
        self.calls += 1
        words = set(question.lower().split())
        return [len(words & set(t.lower().split())) for t in texts]


def test_reranker_stage_reorders_the_fused_candidates_when_configured(tmp_path):
    store = MemoryStore(DesignedEmbeddings())
    store.upsert([Record("louvre", "The Louvre jewels were stolen.", _meta("l")),
                  Record("scooter", "The thieves fled on scooters along the quay.", _meta("s"))])
    question = "How did the Louvre thieves flee along the quay?"
    reranker = WordReranker()
    plain = Retriever(store, store.embeddings, k=2).retrieve(question)
    reranked = Retriever(store, store.embeddings, k=2, reranker=reranker).retrieve(question, timings=(t := {}))
    assert plain[0].chunk.chunk_id == "louvre"  # designed embeddings know "louvre", not "scooters"
    assert reranked[0].chunk.chunk_id == "scooter" and reranker.calls == 1 and "rerank_ms" in t
    service = QAService(settings=Settings(index_dir=tmp_path), embeddings=store.embeddings, store=store,
                        llm=scripted_llm("x"), reranker=reranker)
    assert service.chain.retriever.reranker is reranker
    assert QAService(settings=Settings(index_dir=tmp_path), embeddings=store.embeddings, store=store,
                     llm=scripted_llm("x")).chain.retriever.reranker is None


# An article cut by the chunker into three overlapping pieces (the overlap is "She added that").
FIRST = "The central bank met on Monday. Its governor, Ana Ruiz, said rates would stay at 3%. She added that"
MIDDLE = "She added that inflation was falling faster than expected. The next meeting is in"
LAST = "The next meeting is in June, when new forecasts are due. Markets rose."


def test_sentences_split_on_sentence_ends_and_lines():
    assert sentences("Il a dit « non ». Puis il est parti!\nFin") == ["Il a dit « non ».", "Puis il est parti!", "Fin"]
    assert sentences("He said: \"No.\" Then left.") == ["He said: \"No.\"", "Then left."]


def test_sentences_go_on_after_an_abbreviation_or_before_a_lower_case_word():
    assert sentences("Aid reached the U.S. Senate on Monday. Mr. Smith voted no. The U.S. The end") == [
        "Aid reached the U.S. Senate on Monday.", "Mr. Smith voted no.", "The U.S.", "The end"]
    assert sentences("It closed at 9 p.m. on Sunday. Fin") == ["It closed at 9 p.m. on Sunday.", "Fin"]
    # a line break still ends a sentence, whatever the next line starts with
    assert sentences("Headline\nlower-case line. Next") == ["Headline", "lower-case line.", "Next"]


def test_window_adds_the_sentences_that_complete_a_passage_without_repeating_the_overlap():
    widened = widen(MIDDLE, FIRST, LAST, 1)
    assert widened == ("Its governor, Ana Ruiz, said rates would stay at 3%. She added that inflation was falling "
                       "faster than expected. The next meeting is in June, when new forecasts are due.")
    assert widen(MIDDLE, FIRST, LAST, 2).startswith("The central bank met on Monday. Its governor")
    assert widen(MIDDLE, FIRST, LAST, 2).endswith("forecasts are due. Markets rose.")
    # A passage that starts mid-sentence gets that sentence's beginning, nothing more.
    assert widen("the minister said that a deal was close.", "The talks lasted two days. Officials met in "
                 "Geneva, where the minister said", None) == (
        "Officials met in Geneva, where the minister said that a deal was close.")
    # Complete sentences with no word referring back stay as they are; 0 turns the window off.
    assert widen("Markets rose.", FIRST, LAST, 1) == "Markets rose."
    assert widen(MIDDLE, FIRST, LAST, 0) == MIDDLE
    assert widen(MIDDLE, None, None, 1) == MIDDLE
    # French referring words count too; a long neighbour is clipped at a word boundary.
    assert widen("Elle a été signée mardi.", "La loi a été votée. " + "Très " * 200 + "longue phrase.", None, 1,
                 max_chars=50).startswith("…")


def test_retriever_shows_the_widened_text_and_keeps_the_stored_chunk():
    store = MemoryStore(DesignedEmbeddings())
    pieces = [FIRST, MIDDLE, LAST]
    store.upsert([Record(f"bank{i}", text, {**_meta("bank"), "position": i}) for i, text in enumerate(pieces)]
                 + [Record(f"rain{i}", "Rain fell on Paris all day.", {**_meta("rain"), "position": i})
                    for i in (0, 2)])
    question = "When is the next meeting?"

    def middle(retriever, **kw):
        return next(p for p in retriever.retrieve(question, **kw) if p.chunk.chunk_id == "bank1")

    plain = middle(Retriever(store, store.embeddings, k=5, resolve_dates=False))
    widened = middle(Retriever(store, store.embeddings, k=5, sentence_window=1, resolve_dates=False),
                     timings=(t := {}))
    assert plain.display_text == MIDDLE
    assert widened.chunk.text == MIDDLE and "window_ms" in t
    assert widened.display_text == widen(MIDDLE, FIRST, LAST, 1)
    assert "Rain" not in widened.display_text
    service = QAService(settings=Settings(index_dir="unused"), embeddings=store.embeddings, store=store,
                        llm=scripted_llm("x"))
    assert service.chain.retriever.sentence_window == 1  # on by default


def test_window_neighbours_come_from_real_chroma(tmp_path):
    from vectorstore.chroma import ChromaVectorStore, persistent_client

    store = ChromaVectorStore(persistent_client(tmp_path / "idx"), DesignedEmbeddings(), collection="window")
    pieces = [FIRST, MIDDLE, LAST]
    store.upsert([Record(f"bank{i}", text, {**_meta("bank"), "position": i}) for i, text in enumerate(pieces)]
                 + [Record(f"rain{i}", "Rain fell on Paris all day.", {**_meta("rain"), "position": i})
                    for i in (0, 2)])
    retriever = Retriever(store, store._embeddings, k=5, sentence_window=1, resolve_dates=False)
    shown = {p.chunk.chunk_id: p.display_text for p in retriever.retrieve("When is the next meeting?")}
    assert shown["bank1"] == widen(MIDDLE, FIRST, LAST, 1)
    assert shown["bank0"] == FIRST + " inflation was falling faster than expected."


OLD_MIDDLE = "She added that the vote was delayed again."


def test_window_neighbours_are_found_by_place_in_the_keyword_index(tmp_path):
    """With a keyword index the neighbours are looked up by (article, version, position) there, and fetched by
    id: no metadata query to the store (188 ms at 100k chunks in Chroma). Same text as the store query gives."""
    import json

    from vectorstore.keyword import KeywordIndex

    store = MemoryStore(DesignedEmbeddings())
    pieces = [FIRST, MIDDLE, LAST]
    store.upsert([Record(f"bank{i}", text, {**_meta("bank"), "position": i}) for i, text in enumerate(pieces)]
                 + [Record(f"old{i}", text, {**_meta("bank"), "article_hash": "older", "position": i})
                    for i, text in enumerate(["Stale first part.", OLD_MIDDLE, "Stale last part, it said."])]
                 + [Record(f"rain{i}", "Rain fell on Paris all day.", {**_meta("rain"), "position": i})
                    for i in (0, 2)])
    keyword = KeywordIndex(tmp_path / "kw")
    keyword.sync(store)
    assert keyword.chunk_at("bank", "bank", 2) == "bank2" and keyword.chunk_at("bank", "older", 2) == "old2"
    assert keyword.chunk_at("bank", "bank", 7) is None and keyword.chunk_at("nope", "bank", 0) is None
    by_query = Retriever(store, store.embeddings, k=8, sentence_window=1, resolve_dates=False)
    by_place = Retriever(store, store.embeddings, k=8, sentence_window=1, resolve_dates=False, keyword=keyword)
    expected = {p.chunk.chunk_id: p.display_text for p in by_query.retrieve("When is the next meeting?")}
    store.metadata = lambda where=None: pytest.fail("the store was queried by metadata")
    shown = {p.chunk.chunk_id: p.display_text for p in by_place.retrieve("When is the next meeting?")}
    assert shown["bank1"] == expected["bank1"] == widen(MIDDLE, FIRST, LAST, 1)
    assert shown["old1"] == expected["old1"] == widen(OLD_MIDDLE, "Stale first part.", "Stale last part, it said.", 1)
    assert "Stale" not in shown["bank1"] and "Stale" in shown["old1"]
    # an index saved before chunks' places were kept is rebuilt by the next sync
    manifest = tmp_path / "kw" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["rows"] = [{k: v for k, v in row.items() if k not in ("position", "article_hash")} for row in data["rows"]]
    manifest.write_text(json.dumps(data))
    older = KeywordIndex(tmp_path / "kw")
    assert older.load() is False
    assert older.sync(store) is True and older.chunk_at("bank", "bank", 0) == "bank0"


def test_dense_search_judges_the_as_of_filter_by_the_keyword_index_columns(tmp_path):
    """Real Chroma, on the path large indexes take (wide_search_from 0): with a keyword index the candidates are
    searched for ids alone and filtered by its columns (the store's metadata query is never run) and the same
    passages come back, in the same order, as without the keyword index's help."""
    from datetime import date

    from qa.retrieve.fusion import Fusion
    from vectorstore.chroma import ChromaVectorStore, persistent_client
    from vectorstore.keyword import KeywordIndex

    store = ChromaVectorStore(persistent_client(tmp_path / "idx"), DesignedEmbeddings(), collection="keep")
    store.wide_search_from = 0
    words = ["meeting", "rates", "inflation", "rain", "jewels", "election", "markets", "June"]
    store.upsert([Record(f"c{i:02d}", f"Report {i} on the {words[i % 8]} and the {words[(i * 3) % 8]}.",
                         {**_meta(f"a{i}", 20251001 + i), "position": 0}) for i in range(24)])
    keyword = KeywordIndex(tmp_path / "kw")
    keyword.sync(store)
    question, as_of = "When is the next meeting on rates?", date(2025, 10, 16)  # 16 of the 24 pass
    dense_only = Fusion(keyword=0.0, recency_prior=0.0)
    plain = [p.chunk.chunk_id for p in Retriever(store, store._embeddings, k=6, fusion=dense_only)
             .retrieve(question, as_of)]
    store._query = lambda *a, **kw: pytest.fail("candidates' metadata were read from the store")
    helped = [p.chunk.chunk_id for p in Retriever(store, store._embeddings, k=6, keyword=keyword, fusion=dense_only)
              .retrieve(question, as_of)]
    assert helped == plain and len(helped) == 6 and all(int(i[1:]) <= 15 for i in helped)


def test_two_passages_needing_the_same_neighbour_fetch_it_once_from_real_chroma(tmp_path):
    """Chunks 0 and 2 of an article both need chunk 1 (0 stops mid-sentence, 2 opens with "He"): Chroma refuses
    a repeated id, so the neighbour is asked for once, and both passages are completed by it."""
    from vectorstore.chroma import ChromaVectorStore, persistent_client
    from vectorstore.keyword import KeywordIndex

    texts = ["The minister met the unions on Monday and said that",
             "said that the reform of pensions would wait until the spring. The unions welcomed the pause.",
             "He also promised talks on wages."]
    store = ChromaVectorStore(persistent_client(tmp_path / "idx"), DesignedEmbeddings(), collection="twice")
    store.upsert([Record(f"p{i}", text, {**_meta("pensions"), "position": i}) for i, text in enumerate(texts)])
    keyword = KeywordIndex(tmp_path / "kw")
    keyword.sync(store)
    for helper in (keyword, None):
        retriever = Retriever(store, store._embeddings, k=3, sentence_window=1, resolve_dates=False, keyword=helper)
        shown = {p.chunk.chunk_id: p.display_text for p in retriever.retrieve("What did the minister promise?")}
        assert shown["p0"] == widen(texts[0], None, texts[1], 1) and "spring" in shown["p0"]
        assert shown["p2"] == widen(texts[2], texts[1], None, 1) and "welcomed the pause" in shown["p2"]
