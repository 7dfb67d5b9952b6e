"""Explicit periods in questions become a ranking boost for articles published in them."""

from __future__ import annotations

from datetime import date

import pytest

from fakes import DesignedEmbeddings, MemoryStore
from qa.retrieve.periods import question_period
from qa.retrieve.retriever import Fusion, Retriever
from vectorstore.base import Record

AS_OF = date(2025, 11, 5)


@pytest.mark.parametrize("question,language,start,end,granularity", [
    ("What did the ECB decide in October 2025?", "en", date(2025, 10, 1), date(2025, 10, 31), "month"),
    ("Qu'a décidé la BCE en janvier ?", "fr", date(2025, 1, 1), date(2025, 1, 31), "month"),
    ("What happened at the Louvre last week?", "en", date(2025, 10, 23), date(2025, 10, 29), "week"),
    ("¿Qué pasó el 28 de abril de 2025?", "es", date(2025, 4, 28), date(2025, 4, 28), "day"),
    # dateparser's own search misses these two "this week"s and reads "a 7.0-magnitude" as January 7
    ("Which US official tested positive for Covid-19 this week?", "en", date(2025, 10, 30), AS_OF, "week"),
    ("Which country was shaken by a 7.0-magnitude earthquake this week?", "en", date(2025, 10, 30), AS_OF, "week"),
    ("Qui a démissionné cette semaine ?", "fr", date(2025, 10, 30), AS_OF, "week"),
    ("¿Qué anunció el gobierno el mes pasado?", "es", date(2025, 10, 1), date(2025, 10, 31), "month"),
])
def test_periods_are_read_in_the_question_language(question, language, start, end, granularity):
    period = question_period(question, AS_OF, language)
    assert (period.start, period.end, period.granularity) == (start, end, granularity)


@pytest.mark.parametrize("question", ["When did Bessent last meet He Lifeng?", "How many people were arrested?",
                                      "What did 3 suspects say?",
                                      "After more than 60 years, which beverage gets a new bottle?",
                                      "How much did grocery prices rise over the last 12 months?",
                                      "Gas prices have been falling now for 50 days: what is the average?"])
def test_no_period_when_none_is_named(question):
    assert question_period(question, AS_OF, "en") is None


def test_a_period_after_the_as_of_date_is_ignored():
    assert question_period("What will happen in December 2026?", AS_OF, "en") is None


def _meta(article, day):
    return {"article_id": article, "position": 0, "title": article, "source": "s", "language": "en", "url": "",
            "published": f"{day // 10000}-{day // 100 % 100:02d}-{day % 100:02d}", "published_int": day,
            "article_hash": article}


@pytest.mark.parametrize("month,expected", [("June", "june"), ("July", "july")])
def test_articles_published_in_the_named_period_move_up(month, expected):
    store = MemoryStore(DesignedEmbeddings())
    store.upsert([Record("june", "The ECB rate decision was announced.", _meta("june", 20250605)),
                  Record("july", "The ECB rate decision was announced.", _meta("july", 20250724))])
    retriever = Retriever(store, store.embeddings, k=2)
    passages = retriever.retrieve(f"What was the ECB rate decision in {month} 2025?", AS_OF, timings=(t := {}))
    assert passages[0].chunk.chunk_id == expected and "period_ms" in t
    off = Retriever(store, store.embeddings, k=2, fusion=Fusion(period=0.0, period_search=0.0, recency_prior=0.0))
    assert off.retrieve(f"What was the ECB rate decision in {month} 2025?", AS_OF)[0].chunk.chunk_id == "june"


class _AngleEmbeddings:
    """2-d unit vectors: the question points along x, each text at the angle its similarity to it asks for."""

    def __init__(self, similarity: dict[str, float]) -> None:
        self.similarity = similarity

    def _vector(self, text: str) -> list[float]:
        s = self.similarity.get(text, 1.0)
        return [s, (1 - s * s) ** 0.5]

    def embed_documents(self, texts):
        return [self._vector(t) for t in texts]

    def embed_query(self, text):
        return [1.0, 0.0]


def test_this_week_lifts_a_less_similar_report_of_that_week_but_not_an_unrelated_one():
    # Twelve older reports on the topic score 0.90-0.96; this week's report 0.85 (within the 0.15 margin, ranked
    # 13th); an unrelated article of the same week 0.50.
    similarity = {f"older report {i}": 0.96 - 0.005 * i for i in range(12)}
    similarity |= {"this week's report": 0.85, "unrelated this week": 0.50}
    embeddings = _AngleEmbeddings(similarity)
    store = MemoryStore(embeddings)
    store.upsert([Record(f"old{i}", text, _meta(f"old{i}", 20250610 + i)) for i, text in enumerate(similarity)
                  if text.startswith("older")])
    store.upsert([Record("new", "this week's report", _meta("new", 20251103)),
                  Record("other", "unrelated this week", _meta("other", 20251104))])
    question = "Which agency announced a recall this week?"
    ids = [p.chunk.chunk_id for p in Retriever(store, embeddings, k=5).retrieve(question, AS_OF)]
    assert ids[0] == "new" and "other" not in ids
    # (recency off: the "this week" cue would lift the new report by itself)
    narrow = Retriever(store, embeddings, k=5, fusion=Fusion(period_pool=10, period_margin=0.05, recency=0.0,
                                                                 recency_prior=0.0))
    assert "new" not in [p.chunk.chunk_id for p in narrow.retrieve(question, AS_OF)]


def _crowded_store(week_day: int):
    """Ten older reports on the topic (similarity 0.90-0.95), one report published on `week_day` that is less
    similar (0.85) and one unrelated article of the as-of week (0.30)."""
    similarity = {f"older report {i}": 0.95 - 0.005 * i for i in range(10)}
    similarity |= {"the week's report": 0.85, "unrelated this week": 0.30}
    embeddings = _AngleEmbeddings(similarity)
    store = MemoryStore(embeddings)
    store.upsert([Record(f"old{i}", f"older report {i}", _meta(f"old{i}", 20250601 + i)) for i in range(10)])
    store.upsert([Record("new", "the week's report", _meta("new", week_day)),
                  Record("other", "unrelated this week", _meta("other", 20251104))])
    return store, embeddings


@pytest.mark.parametrize("question", ["Which agency announced a recall this week?",  # the period it names
                                      "Which agency announced a recall?"])  # none: the recent days
def test_a_second_search_in_the_period_brings_in_a_report_the_whole_corpus_search_leaves_out(question):
    store, embeddings = _crowded_store(20251103)
    # fetch_k 4: the whole corpus's 4 nearest are older reports; recency and the period boost can only reorder
    # the candidates they are given, so without the second search the week's report is not among the passages.
    no_boosts = {"recency": 0.0, "recency_prior": 0.0, "period": 0.0}
    off = Retriever(store, embeddings, k=4, fetch_k=4,
                    fusion=Fusion(**no_boosts, period_search=0.0, recent_search=0.0))
    assert "new" not in [p.chunk.chunk_id for p in off.retrieve(question, AS_OF)]
    on = Retriever(store, embeddings, k=4, fetch_k=4,
                   fusion=Fusion(**no_boosts, period_search=1.0, recent_search=1.0, recent_days=7))
    t: dict[str, float] = {}
    ids = [p.chunk.chunk_id for p in on.retrieve(question, AS_OF, timings=t)]
    # the week's report comes in (1st in the window, absent from the whole corpus's list); the unrelated article
    # of the week, 2nd in the window, is left out of it: its similarity is not within the margin of the best
    assert "new" in ids and "other" not in ids and "window_search_ms" in t
    wide_margin = Retriever(store, embeddings, k=4, fetch_k=4,
                           fusion=Fusion(**no_boosts, period_search=1.0, recent_search=1.0, period_margin=1.0))
    assert "other" in [p.chunk.chunk_id for p in wide_margin.retrieve(question, AS_OF)]


def test_the_recent_window_is_the_days_up_to_the_as_of_date_and_a_named_period_replaces_it():
    fusion = Fusion(recency=0.0, recency_prior=0.0, period=0.0, period_search=1.0, recent_search=1.0,
                    recent_days=7)
    # published 8 days before the as-of date: outside the 7 recent days
    store, embeddings = _crowded_store(20251028)
    retriever = Retriever(store, embeddings, k=4, fetch_k=4, fusion=fusion)
    assert "new" not in [p.chunk.chunk_id for p in retriever.retrieve("Which agency announced a recall?", AS_OF)]
    # ... but inside "last week" (October 23-29): the named period is searched instead
    ids = [p.chunk.chunk_id for p in retriever.retrieve("Which agency announced a recall last week?", AS_OF)]
    assert "new" in ids
    # an as-of date in the past moves the window with it
    early = date(2025, 10, 30)
    assert "new" in [p.chunk.chunk_id for p in retriever.retrieve("Which agency announced a recall?", early)]


def test_the_window_search_embeds_the_question_once():
    store, embeddings = _crowded_store(20251103)
    asked = []
    embeddings.embed_query = lambda text: asked.append(text) or [1.0, 0.0]
    retriever = Retriever(store, embeddings, k=4, fusion=Fusion(period_search=1.0))
    assert retriever.retrieve("Which agency announced a recall this week?", AS_OF)
    assert asked == ["Which agency announced a recall this week?"]


def test_may_and_march_in_lower_case_are_words_not_months():
    from datetime import date

    from qa.retrieve.periods import question_period

    assert question_period("Which country may soon no longer be classified as measles-free?", date(2025, 10, 31),
                           "en") is None
    assert question_period("What happened in May?", date(2025, 10, 31), "en").start == date(2025, 5, 1)
