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
])
def test_periods_are_read_in_the_question_language(question, language, start, end, granularity):
    period = question_period(question, AS_OF, language)
    assert (period.start, period.end, period.granularity) == (start, end, granularity)


@pytest.mark.parametrize("question", ["When did Bessent last meet He Lifeng?", "How many people were arrested?",
                                      "What did 3 suspects say?"])
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
    off = Retriever(store, store.embeddings, k=2, fusion=Fusion(period=0.0))
    assert off.retrieve(f"What was the ECB rate decision in {month} 2025?", AS_OF)[0].chunk.chunk_id == "june"
