"""Explicit periods in questions become a ranking boost for articles published in them."""

from __future__ import annotations

from datetime import date

import pytest

from fakes import DesignedEmbeddings, MemoryStore
from qa.periods import question_period
from qa.retrieval import Fusion, Retriever
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
    off = Retriever(store, store.embeddings, k=2, fusion=Fusion(period=0.0, recency_prior=0.0))
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
