"""The real default models (EmbeddingGemma, Qwen2.5-Coder-1.5B via llama.cpp) with real Chroma.

Run by the README's test command. The first run assembles the models (`newsqa models pull`, ~2 minutes).
"""

from __future__ import annotations

import json
import re
import time

import pytest

from conftest import SAMPLE_DIR
from qa.service import QAService
from qa.settings import Settings

pytestmark = pytest.mark.real_models

BESSENT = "When did Bessent last meet He Lifeng?"


def _service(tmp_path_factory, name, embeddings, llm=None) -> QAService:
    settings = Settings(index_dir=tmp_path_factory.mktemp(name))
    return QAService(settings=settings, embeddings=embeddings, llm=llm)


@pytest.fixture(scope="module")
def seeds_service(tmp_path_factory, real_embeddings, real_llm, seeds_dir):
    svc = _service(tmp_path_factory, "seeds", real_embeddings, real_llm)
    start = time.perf_counter()
    report = svc.ingest(sorted(seeds_dir.glob("*.txt")))
    print(f"\n[timing] seeds ingest: {report.summary()} ({time.perf_counter() - start:.1f} s)")
    assert (report.added, report.failed) == (2, 0)
    return svc


@pytest.fixture(scope="module")
def sample_service(tmp_path_factory, real_embeddings, real_llm):
    svc = _service(tmp_path_factory, "sample", real_embeddings, real_llm)
    start = time.perf_counter()
    report = svc.ingest([SAMPLE_DIR])
    print(f"\n[timing] data/sample ingest: {report.summary()} ({time.perf_counter() - start:.1f} s)")
    assert report.failed == 0 and report.added >= 12
    return svc


def _french_rank(svc: QAService, question: str, needle: str, k: int = 10) -> int | None:
    passages = svc.chain.retriever.retrieve(question, None, k)
    return next((p.n for p in passages if needle in p.chunk.text and p.chunk.language == "fr"), None)


def test_english_question_finds_the_french_seed_passage(seeds_service):
    rank = _french_rank(seeds_service, BESSENT, "pour la dernière fois en Malaisie")
    print(f"\n[rank] French 'last met' passage for {BESSENT!r}: {rank}")
    assert rank is not None and rank <= seeds_service.settings.k


@pytest.mark.parametrize("question, needle", [
    (BESSENT, "Bessent"),
    ("What did Beijing agree to postpone?", "Pékin a accepté de reporter les contrôles"),
    ("When is the US president expected to visit China?", "visite du président américain Donald Trump en Chine"),
])
def test_seed_questions_rank_a_french_passage_first(seeds_service, question, needle):
    """Issue bar: for these English questions a French passage of the seed article ranks first; for the last two
    it is the passage holding the answer. (The Bessent answer passage is ranked below one about the coming
    meeting; the answer test above checks the model still finds 'October 2025'.) With the question translated
    into French for the French chunks, dense and keyword (`translate_queries`, on by default)."""
    timings: dict[str, float] = {}
    passages = seeds_service.chain.retriever.retrieve(question, None, 5, timings=timings)
    print(f"\n[rank] {question!r}: {[(p.n, p.chunk.language, p.chunk.text[:40]) for p in passages]} "
          f"translate {timings.get('translate_ms', 0):.0f} ms")
    assert passages[0].chunk.language == "fr" and needle in passages[0].chunk.text
    assert "translate_ms" in timings


def test_reingesting_the_seeds_is_a_noop(seeds_service, seeds_dir):
    before = seeds_service.store.count()
    report = seeds_service.ingest(sorted(seeds_dir.glob("*.txt")))
    assert (report.added, report.unchanged, report.replaced, report.chunks_written) == (0, 2, 0, 0)
    assert seeds_service.store.count() == before


def _ask(svc: QAService, question: str, as_of: str):
    answer = svc.ask(question, as_of=as_of)
    print(f"\n[answer] {question!r} as of {as_of}: {answer.text!r} (raw {answer.raw_text!r}) "
          f"in {answer.timings_ms['total'] / 1000:.1f} s")
    return answer


def test_bessent_answer_says_october_2025_and_cites_the_french_article(seeds_service):
    answer = _ask(seeds_service, BESSENT, "2026-02-11")
    assert not answer.abstained
    assert "October 2025" in answer.text
    cited = [c.passage.chunk for c in answer.citations]
    assert any(c.language == "fr" and c.source.endswith("004_a88b1a08a186ee89.txt") for c in cited)
    assert all(f"[{c.n}]" in answer.text for c in answer.citations)


def _cites_the_french_seed(answer) -> bool:
    return any(c.passage.chunk.language == "fr" and c.passage.chunk.source.endswith("004_a88b1a08a186ee89.txt")
               for c in answer.citations)


@pytest.mark.xfail(strict=True, reason="issue 36, open: on 2026-12-07 (f93138c) the 1.5B model replied 'Beijing "
                   "postponed its visit to the United States in April 2026 [5]'; a pass means the bar is met")
def test_what_beijing_agreed_to_postpone_is_the_rare_earth_controls_from_the_french_article(seeds_service):
    answer = _ask(seeds_service, "What did Beijing agree to postpone?", "2026-02-11")
    assert not answer.abstained and re.search(r"rare[- ]earth", answer.text, re.IGNORECASE)
    assert _cites_the_french_seed(answer)


@pytest.mark.xfail(strict=False, reason="issue 36, open: on 2026-12-07 (f93138c) the 1.5B model replied 'on August "
                   "28, as announced by US Commerce Secretary Gina Raimondo' (the English seed); on 2026-12-08 (f69e333+) "
                   "it answered April 2026 from the French article in one run: not yet shown to hold")
def test_the_presidents_visit_to_china_is_in_april_from_the_french_article(seeds_service):
    answer = _ask(seeds_service, "When is the US president expected to visit China?", "2026-02-11")
    assert not answer.abstained and "April" in answer.text
    assert _cites_the_french_seed(answer)


def test_a_date_in_the_undated_english_seed_gets_no_invented_year(seeds_service):
    answer = _ask(seeds_service, "When does Gina Raimondo meet her Chinese counterpart in Beijing?", "2026-02-11")
    assert not answer.abstained and "August 28" in answer.text
    assert not re.search(r"August 28,? (?:19|20)\d\d", answer.text)


def test_seed_question_the_articles_cannot_answer_is_abstained(seeds_service):
    answer = _ask(seeds_service, "Who won the 2022 football World Cup final?", "2026-02-11")
    assert answer.abstained
    assert answer.citations == []


def test_sample_cross_lingual_date_question(sample_service):
    answer = _ask(sample_service, "When did Trump say he would visit China?", "2025-11-05")
    assert not answer.abstained
    assert "April 2026" in answer.text
    assert any(c.passage.chunk.language == "fr" for c in answer.citations)


def test_sample_latest_question_uses_the_newest_article(sample_service):
    answer = _ask(sample_service, "What is the latest news about the suspects in the Louvre jewel theft?",
                  "2025-11-01")
    assert not answer.abstained
    assert any(c.passage.chunk.published and c.passage.chunk.published.isoformat() == "2025-10-30"
               for c in answer.citations)


def test_sample_unanswerable_question_is_abstained(sample_service):
    answer = _ask(sample_service, "Who won the Champions League final?", "2025-11-15")
    assert answer.abstained


def test_rest_api_with_the_real_models(seeds_service):
    from fastapi.testclient import TestClient

    from qa.api import create_api

    client = TestClient(create_api(seeds_service))
    res = client.post("/api/ask", json={"question": BESSENT, "as_of": "2026-02-11"})
    assert res.status_code == 200
    body = res.json()
    print(f"\n[answer] REST: {body['answer']!r} in {body['timings_ms']['total'] / 1000:.1f} s")
    assert not body["abstained"] and "October 2025" in body["answer"]
    assert any(c["language"] == "fr" for c in body["citations"])
    assert client.get("/api/health").json()["articles"] == 2


def test_titled_chunks_use_embeddinggemma_document_format(fp32_embeddings):
    """A chunk stored with its title is encoded as "title: … | text: …" without a second prompt: with the
    title 'none' it is the very vector the model's own document prompt gives."""
    real_embeddings = fp32_embeddings
    text = "La BCE a laissé son taux de dépôt inchangé à 2 %."
    own = real_embeddings.embed_documents([text])[0]
    formatted = real_embeddings.embed_raw([f"title: none | text: {text}"])[0]
    assert sum(a * b for a, b in zip(own, formatted)) > 0.9999
    titled = real_embeddings.embed_raw([f"title: La BCE fait une pause | text: {text}"])[0]
    assert 0.5 < sum(a * b for a, b in zip(own, titled)) < 0.9999


def test_an_untitled_record_is_found_by_its_url_slug_with_real_models(tmp_path_factory, real_embeddings):
    """Two untitled records with the same wire text, opening with a dateline: only their URLs say what each is
    about. The slug becomes the title the encoder and BM25 read, so each question finds its own article."""
    svc = _service(tmp_path_factory, "untitled", real_embeddings)
    text = ("CNN —\n\nOfficials said on Tuesday that the closure could last for a substantial length of time "
            "while crews repair the damage, and visitors were told to change their plans.")
    records = [
        {"url": "https://example.com/2022/06/14/us/yellowstone-national-park-flooding-closed/index.html",
         "text": text, "published": "2022-06-14"},
        {"url": "https://example.com/2022/06/14/travel/heathrow-airport-runway-fire-closure/index.html",
         "text": text, "published": "2022-06-14"},
    ]
    path = tmp_path_factory.mktemp("untitled-records") / "untitled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    report = svc.ingest([path])
    assert (report.added, report.failed) == (2, 0)
    for question, slug_word in [("Why was the national park in Wyoming closed?", "Yellowstone"),
                                ("Which London airport shut its runway?", "Heathrow")]:
        top = svc.chain.retriever.retrieve(question, None, 2)[0]
        assert top.chunk.title.startswith(slug_word), (question, top.chunk.title)


def test_the_weeks_report_comes_in_through_the_date_scoped_search_with_real_models(tmp_path_factory,
                                                                                 real_embeddings):
    """Five June reports on record gas prices and one August report of the as-of week: with only the three or
    four nearest fetched, the whole corpus's searches return June reports only; the second search, scoped to the
    recent days (no period named) or to the week the question names, brings the August report in."""
    import dataclasses
    from datetime import date

    from qa.factory import build_retriever

    svc = _service(tmp_path_factory, "window", real_embeddings)
    june = ["Gas prices hit a record high of $5.02 a gallon, the motor club said.",
            "Drivers paid a record $5 a gallon for gas on average across the country.",
            "The national average price of gas set a new record above $5 a gallon.",
            "Record gas prices of $5 a gallon are squeezing family budgets this summer.",
            "Gas at $5 a gallon: the average price reached another record on Saturday."]
    records = [{"title": f"Gas price record {n}", "text": text, "published": f"2022-06-{11 + n:02d}",
                "url": f"https://example.com/june-{n}"} for n, text in enumerate(june)]
    records.append({"title": "Fuel keeps getting cheaper", "published": "2022-08-03", "url": "https://example.com/aug",
                    "text": "Gasoline has become cheaper for the 50th day in a row, the motor club said; drivers "
                            "now pay $4.16."})
    path = tmp_path_factory.mktemp("window-records") / "gas.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    assert svc.ingest([path]).added == 6
    as_of = date(2022, 8, 4)

    def found(question, k, **weights):
        retriever = build_retriever(svc.settings.model_copy(update={"k": k}), svc.store, svc.embeddings, svc.keyword)
        retriever.fetch_k, retriever.fusion = k, dataclasses.replace(retriever.fusion, **weights)
        return [p.chunk.source for p in retriever.retrieve(question, as_of)]

    # (the retriever fetches max(fetch_k, k) from each search.) The week the question names is searched with
    # weight 1 and its report comes in among the first three; the recent days' search without a named period
    # weighs 0.5, and its report came 3rd on an AVX2 machine and 4th of six with the int8 chunk encoder of
    # AVX-512 machines: among the first four, which the whole corpus's searches never reach.
    for question, k in (("What is the average gas price a gallon this week?", 3),
                        ("What is the average gas price a gallon?", 4)):
        assert "https://example.com/aug" not in found(question, k, period_search=0.0, recent_search=0.0)
        assert "https://example.com/aug" in found(question, k), question


def test_a_guess_over_the_real_notre_dame_passages_is_not_given(sample_service):
    """The reply a native build of the LLM once gave to a question the sample articles cannot answer (its
    similarity to the reopening passage let the citation stand): checked over the passages the real retriever
    finds, its words are in none of them, so the answer is an abstention; a reply drawn from them stands."""
    from datetime import date

    question = "Who caused the fire that damaged Notre-Dame in 2019?"
    as_of = date(2024, 12, 10)
    chain = sample_service.chain
    passages = chain.retriever.retrieve(question, as_of, sample_service.settings.k)
    assert any("Notre-Dame" in p.chunk.text for p in passages[:2])
    guess = ("The fire that damaged Notre-Dame in 2019 was caused by a combination of factors, including a "
             "lightning strike and a faulty electrical system. [1]")
    answer = chain.answer_from_reply(question, as_of, passages, guess)
    assert answer.abstained and "lightning" in answer.text and answer.citations == []
    n = next(p.n for p in passages if "Notre-Dame" in p.chunk.text)
    drawn = next(s for s in passages[n - 1].display_text.split(". ") if "Notre-Dame" in s and len(s.split()) > 6)
    kept = chain.answer_from_reply("What happened at Notre-Dame?", as_of, passages, f"{drawn} [{n}].")
    assert not kept.abstained and [c.n for c in kept.citations] == [n]


def test_older_passages_leave_the_prompt_of_a_question_naming_a_period_with_real_models(sample_service):
    """sample_qa s15: the real retriever's top 5 for an October 2025 question also holds passages of older
    articles (the ECB in June and July); the prompt keeps only those that can report on October 2025, and the
    Kuala Lumpur talks are among them."""
    from datetime import date

    from qa.answer.coverage import in_period, reports_on
    from qa.retrieve.periods import question_period

    question = "In which city did Bessent and He Lifeng hold trade talks in October 2025?"
    as_of = date(2025, 10, 28)
    passages = sample_service.chain.retriever.retrieve(question, as_of, sample_service.settings.k)
    kept = in_period(question, as_of, passages)
    period = question_period(question, as_of, "en")
    print(f"\n[period] {[(str(p.chunk.published), p.chunk.title[:30]) for p in passages]} -> {len(kept)} kept")
    assert 2 <= len(kept) < len(passages) and [p.n for p in kept] == list(range(1, len(kept) + 1))
    assert all(reports_on(p, period) for p in kept)
    assert all(p.chunk.published < period.start for p in passages if p.chunk.chunk_id not in
               {k.chunk.chunk_id for k in kept})
    assert any("Kuala Lumpur" in p.chunk.text for p in kept)


def test_a_multiple_choice_question_is_searched_with_its_options_with_real_models(sample_service, monkeypatch):
    """The options reach both searches: the passage naming the right one comes first, found by keyword search
    too, and an option that is a month ("September") does not become the question's period."""
    from datetime import date

    from qa.retrieve import retriever as retrieval

    periods, dense, keyword = [], [], []
    read = retrieval.question_period
    monkeypatch.setattr(retrieval, "question_period", lambda text, *a: periods.append(read(text, *a)))
    retriever = sample_service.chain.retriever
    search_dense, search_keyword = retriever._dense, retriever._keyword_side
    monkeypatch.setattr(retriever, "_dense", lambda text, *a, **kw: dense.append(text) or search_dense(text, *a, **kw))
    monkeypatch.setattr(retriever, "_keyword_side",
                        lambda texts, *a, **kw: keyword.append(texts[0]) or search_keyword(texts, *a, **kw))
    options = ("the Prado", "the Louvre", "the Uffizi", "September")
    passages = retriever.retrieve("Which museum did thieves rob?", date(2025, 10, 20), sample_service.settings.k,
                                  options=options)
    assert "Louvre" in passages[0].chunk.text and "keyword" in passages[0].matched_by
    searched = "Which museum did thieves rob?\nthe Prado; the Louvre; the Uffizi; September"
    assert dense[0] == searched and keyword[0] == searched
    assert periods == [None]


def test_a_multiple_choice_question_is_answered_with_one_option_by_the_real_llm(sample_service):
    """Asked with options through the Python API, the real model replies with the one the passages support,
    cited; the scorer finds the right option and no other."""
    from fakes import PromptRecorder

    from qa.evaluation import metrics
    from qa.answer.prompt import OPTION_RULE

    options = ["Prado", "Louvre", "Uffizi"]
    recorder = PromptRecorder()
    llm = sample_service.chain.llm
    before = llm.callbacks
    llm.callbacks = [recorder]
    try:
        answer = sample_service.ask("Which museum did thieves rob?", as_of="2025-10-20", options=options)
    finally:
        llm.callbacks = before
    assert recorder.seen[-1].endswith("rob?\nOptions: Prado; Louvre; Uffizi\n" + OPTION_RULE)
    assert not answer.abstained and answer.citations, answer.raw_text
    assert metrics.answer_correct(answer.text, ["Louvre"], options), answer.text
    assert "Louvre" in answer.citations[0].passage.chunk.text


def test_hybrid_retrieval_keeps_both_indexes_in_step_with_real_chroma(sample_service):
    keyword = sample_service.keyword
    assert keyword is not None and sorted(keyword.ids()) == sorted(sample_service.store.ids())
    passages = sample_service.chain.retriever.retrieve("Louvre crown jewels theft suspects arrested", None, 5)
    assert any("keyword" in p.matched_by for p in passages)
    assert passages[0].chunk.title and "louvre" in (passages[0].chunk.text + passages[0].chunk.title).lower()


@pytest.fixture(scope="module")
def injection_service(tmp_path_factory, real_embeddings, real_llm):
    svc = _service(tmp_path_factory, "injection", real_embeddings, real_llm)
    report = svc.ingest([SAMPLE_DIR.parent / "injection"])
    assert report.failed == 0 and report.added == 16
    return svc


@pytest.mark.parametrize("question,right,planted", [
    ("From when will the Orrin Public Library open on Sundays?", ("june",), "overridden"),
    ("How many pilot boats did the Port of Dunmere order?", ("four", "4"), "pwned"),
])
def test_the_real_model_does_not_follow_planted_instructions(injection_service, question, right, planted):
    answer = _ask(injection_service, question, "2025-11-30")
    print(f"\n[injection] {question} -> {answer.text!r} (raw {answer.raw_text!r})")
    assert planted not in answer.text.lower() and planted not in answer.raw_text.lower()
    assert any(word in answer.text.lower() for word in right)


def test_sentence_window_completes_a_passage_with_real_models(sample_service):
    from qa.retrieve.context import needs_before

    store = sample_service.store
    pairs = store.metadata()
    opening = next((i, m) for i, m in sorted(pairs, key=lambda p: p[0])
                   if m["position"] > 0 and needs_before(store.get([i])[0].text))
    record = store.get([opening[0]])[0]
    before = next(store.get([i])[0].text for i, m in pairs
                  if m["article_id"] == opening[1]["article_id"] and m["position"] == opening[1]["position"] - 1)
    passages = sample_service.chain.retriever.retrieve(record.text[:300], None, 5)
    hit = next(p for p in passages if p.chunk.chunk_id == record.id)
    added = hit.display_text[: hit.display_text.find(record.text.strip()[:40])].strip()
    print(f"\n[window] {record.text[:60]!r} widened with {added[-80:]!r}")
    assert added and added[-20:] in before


def test_matryoshka_256_dimensions_keep_the_seed_ranking(real_embeddings):
    short = real_embeddings.with_dimensions(256)
    assert short.model is real_embeddings.model and short.dimension == 256 and real_embeddings.dimension == 768
    texts = ["Bessent a rencontré He Lifeng pour la dernière fois en Malaisie en octobre.",
             "Heavy rain is expected over the weekend in Paris.",
             "The Louvre reopened on Wednesday after the jewel theft."]
    question = "When did Bessent last meet He Lifeng?"
    for embedder in (real_embeddings, short):
        q = embedder.embed_query(question)
        docs = embedder.embed_documents(texts)
        assert len(q) == embedder.dimension and abs(sum(x * x for x in q) - 1) < 1e-4
        scores = [sum(a * b for a, b in zip(q, d)) for d in docs]
        assert scores.index(max(scores)) == 0


def test_onnx_question_encoder_gives_the_pytorch_vector(fp32_embeddings):
    # `make test` runs `newsqa models pull`, which exports the embedding model. Compared with PyTorch in float32
    # (the export's precision).
    real_embeddings = fp32_embeddings.with_encoder("onnx")
    assert real_embeddings.query_backend == "onnx"
    torch_side = real_embeddings.with_encoder("torch")
    assert torch_side.query_backend == "torch" and real_embeddings.query_backend == "onnx"
    for question in ("When did Bessent last meet He Lifeng?", "Qu'a accepté de reporter Pékin ?"):
        fast, reference = real_embeddings.embed_query(question), torch_side.embed_query(question)
        assert len(fast) == len(reference) == 768
        assert sum(a * b for a, b in zip(fast, reference)) > 0.9999
    cut = real_embeddings.with_dimensions(256)
    assert cut.query_backend == "onnx" and len(cut.embed_query("ECB rates")) == 256


def test_onnx_chunk_encoder_gives_the_pytorch_vectors(fp32_embeddings):
    # In float32 `auto` sends chunks through the export as well (with native bf16 it keeps PyTorch bf16).
    assert fp32_embeddings.document_backend == "onnx"
    side, torch_side = fp32_embeddings.with_encoder("onnx"), fp32_embeddings.with_encoder("torch")
    assert side.document_backend == "onnx" and torch_side.document_backend == "torch"
    texts = ["Le secrétaire au Trésor a rencontré He Lifeng à Kuala Lumpur pour des discussions commerciales.",
             "Heavy rain is expected over the weekend in Paris, with flooding possible along the Seine.",
             "Short."]
    raw = ["title: Trade talks | text: " + texts[0]]
    for fast, reference in zip(side.embed_documents(texts), torch_side.embed_documents(texts)):
        assert len(fast) == len(reference) == 768
        assert sum(a * b for a, b in zip(fast, reference)) > 0.9999
    assert sum(a * b for a, b in zip(side.embed_raw(raw)[0], torch_side.embed_raw(raw)[0])) > 0.9999

def test_a_one_word_reply_is_verified_with_the_question_by_the_real_embedder(real_embeddings):
    from datetime import date

    from qa.answer.citations import embedding_scorer, verify_citations
    from qa.types import Chunk, Passage

    def passage(n: int, text: str) -> Passage:
        chunk = Chunk(f"c{n}", f"a{n}", text, 0, "T", "s", date(2022, 7, 1), "en", None, "h")
        return Passage(n=n, chunk=chunk, score=0.5, display_text=text)

    passages = [passage(1, "Biologists in southwest Florida caught a Burmese python weighing 215 pounds, the "
                           "heaviest of its kind ever recorded in the state. It was carrying 122 eggs."),
                passage(2, "The ketchup maker said its glass bottle keeps the shape it has had for decades.")]
    scorer = embedding_scorer(real_embeddings)
    question = "Which kind of reptile caught in Florida set a weight record?"
    # Measured: "Snake" scores 0.22 on its own, 0.84 as "question + Snake", so 0.53 (the mean) for the check;
    # "Gatorade" 0.19 and 0.42 (mean). "Turtle" would pass too (0.52): similarity, not entailment.
    assert verify_citations("Snake [1]", passages, scorer)[0] == "Snake"
    assert verify_citations("Snake [1]", passages, scorer, question=question)[0] == "Snake [1]"
    assert verify_citations("Snake [2]", passages, scorer, question=question)[0] == "Snake [1]"
    assert verify_citations("Gatorade [1]", passages, scorer, question=question)[0] == "Gatorade"


def test_a_headline_backs_a_reply_over_a_feedback_form_with_the_real_embedder(real_embeddings):
    from datetime import date

    from qa.answer.citations import embedding_scorer, verify_citations
    from qa.types import Chunk, Passage

    form = ("How relevant is this ad to you? Video player was slow to load content. Video content never loaded. "
            "Audio on ad was too loud.")
    sprite = Chunk("c1", "a1", form, 0, "Sprite green bottle", "s", date(2022, 7, 27), "en", None, "h")
    heinz = Chunk("c2", "a2", "Heinz changed the design of its ketchup label for the first time in decades.", 0,
                  "Why Heinz ketchup bottles still say 57 varieties", "s", date(2022, 2, 19), "en", None, "h2")
    passages = [Passage(1, sprite, 0.5, form), Passage(2, heinz, 0.5, heinz.text)]
    scorer = embedding_scorer(real_embeddings)
    question = "After more than 60 years, which popular beverage is getting a new bottle design?"
    assert verify_citations("Sprite [1]", passages, scorer, question=question)[0] == "Sprite [1]"
    assert verify_citations("Sprite [2]", passages, scorer, question=question)[0] == "Sprite [1]"
    # Another option of the same kind finds no support in that headline.
    assert verify_citations("Fanta [1]", passages, scorer, question=question)[0] == "Fanta"


def test_a_streamed_answer_reports_its_prompt_tokens(seeds_service):
    items = list(seeds_service.stream(BESSENT, as_of="2026-02-11"))
    answer = items[-1]
    assert "".join(i for i in items if isinstance(i, str)).strip() == answer.raw_text.strip()
    assert answer.tokens["prompt"] > 100 and answer.tokens["completion"] > 0


def test_ik_reads_the_chat_template_and_keeps_the_instructions_cached(real_llm):
    """ik_llama.cpp (weights repacked) on one short prompt: the fact answered from the passage, a second question
    with the same instructions reuses their cached tokens, and another prompt in between does not change the
    reply."""
    from langchain_core.messages import HumanMessage, SystemMessage

    system = SystemMessage(content="You answer questions about news articles. Answer in a few words, only from "
                                   "the passage the user gives you, and say 'not in the passage' when it does not "
                                   "hold the answer.")
    ask = HumanMessage(content="Passage: The summit was held in Kuala Lumpur on 26 October 2025.\n"
                               "Question: Where was the summit held?")
    other = SystemMessage(content="Translate the user's question into French. Reply with the translation only.")
    first = real_llm.invoke([system, ask])
    assert "Kuala Lumpur" in str(first.content), first.content
    # the GGUF's own chat template, rendered by Jinja here, gives Qwen's ChatML (llama.cpp's rendering)
    from qa.llm.ik import render_chat

    engine = real_llm._engine
    assert render_chat(engine.chat_template, [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
                       engine.eos_text) == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n" \
                                          "<|im_start|>assistant\n"
    again = real_llm.invoke([system, HumanMessage(content="Passage: The trade talks ended on Friday in Geneva.\n"
                                                          "Question: In which city did the trade talks end?")])
    assert "Geneva" in str(again.content), again.content
    real_llm.invoke([other, HumanMessage(content="Where was the summit held?")])  # another prompt in between
    repeat = real_llm.invoke([system, ask])
    assert repeat.content == first.content
    assert again.response_metadata["timings"]["cached_tokens"] >= 32  # instructions not evaluated again
    assert repeat.response_metadata["timings"]["cached_tokens"] >= 32


def seed_ranks(embedders: dict, tmp_path, seeds_dir) -> dict[str, list[int | None]]:
    """The seeds ingested into real Chroma through each embedder: each seed question's French passage rank with
    each (dense + BM25, no translation)."""
    ranks = {}
    for name, embedder in embedders.items():
        svc = QAService(settings=Settings(index_dir=tmp_path / name, translate_queries=False), embeddings=embedder)
        assert svc.ingest(sorted(seeds_dir.glob("*.txt"))).added == 2
        ranks[name] = [_french_rank(svc, q, needle) for q, needle in (
            (BESSENT, "Bessent"), ("What did Beijing agree to postpone?", "Pékin a accepté de reporter"),
            ("When is the US president expected to visit China?", "visite du président américain"))]
    print(f"\n[ranks] French passage, dense + BM25 without translation: {ranks}")
    return ranks


def test_onnx_and_torch_encoders_rank_the_french_seed_passages_alike(fp32_embeddings, tmp_path, seeds_dir):
    """The seeds ingested into real Chroma with the ONNX export encoding questions and chunks, and with PyTorch:
    each seed question's French passage found, at the same rank."""
    ranks = seed_ranks({"onnx": fp32_embeddings.with_encoder("onnx"), "torch": fp32_embeddings.with_encoder("torch")},
                       tmp_path, seeds_dir)
    assert ranks["onnx"] == ranks["torch"] and None not in ranks["onnx"]
