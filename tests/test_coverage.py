"""A question about a period no passage can speak of is answered "not in the articles", without the LLM."""

from __future__ import annotations

from datetime import date

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

from fakes import DesignedEmbeddings, MemoryStore
from qa.coverage import covers, describe, mentions, uncovered_period
from qa.dates import annotate_dates
from qa.periods import Period
from qa.prompting import ABSTAIN_TEXT
from qa.service import QAService
from qa.settings import Settings
from qa.types import Chunk, Passage

DECEMBER = Period(date(2025, 12, 1), date(2025, 12, 20), "in December 2025", "month")


def _passage(text: str, published: date | None, n: int = 1) -> Passage:
    chunk = Chunk(f"c{n}", f"a{n}", text, 0, "ECB", "s", published, "en", None, f"h{n}")
    return Passage(n, chunk, 0.9, annotate_dates(text, published) if published else text)


def test_a_month_is_mentioned_with_its_year_in_any_of_three_languages():
    assert mentions("The next meeting is on 18 December 2025.", DECEMBER)
    assert mentions("La BCE se réunira le 18 décembre 2025.", DECEMBER)
    assert not mentions("The next meeting is in December 2026.", DECEMBER)
    assert not mentions("Rates were cut in June 2025.", DECEMBER)
    week = Period(date(2022, 6, 17), date(2022, 6, 23), "this week", "week")
    assert mentions("Shots could start on June 21, officials said.", week)
    assert not mentions("Shots could start on July 21.", week)
    assert mentions("Le vote aura lieu le 21 juin.", week)
    assert mentions("La votación será el 21 de junio.", week) and mentions("Shots by June 21st.", week)
    assert mentions("The CDC meets Dec. 18.", Period(date(2025, 12, 15), date(2025, 12, 21), "this week", "week"))
    assert not mentions("Results due June 2025.", Period(date(2022, 6, 2), date(2022, 6, 2), "June 2", "day"))
    assert not mentions("Held on 21 June.", Period(date(2022, 6, 1), date(2022, 6, 1), "June 1", "day"))


def test_a_passage_covers_the_period_by_date_or_by_mention():
    assert covers(_passage("Rates were held.", date(2025, 12, 18)), DECEMBER)
    assert covers(_passage("Rates were held.", None), DECEMBER)  # unknown date: cannot rule it out
    # "in December" in an article of June 2025 speaks of the period; in one of 2024 it does not
    assert covers(_passage("The council meets again in December.", date(2025, 6, 5)), DECEMBER)
    assert covers(_passage("The council will meet in December.", date(2025, 6, 5)), DECEMBER)
    assert not covers(_passage("The council meets again in December.", date(2024, 6, 5)), DECEMBER)
    assert not covers(_passage("The deposit rate is 2% after the cut on Thursday.", date(2025, 6, 5)), DECEMBER)


def test_uncovered_only_when_every_passage_predates_and_none_mentions_it():
    june = _passage("The deposit rate is 2% after the cut on Thursday.", date(2025, 6, 5))
    july = _passage("The ECB held rates in July.", date(2025, 7, 24), 2)
    question = "What was the ECB deposit rate decided in December 2025?"
    period = uncovered_period(question, date(2025, 12, 20), [june, july])
    assert (period.start, period.granularity) == (date(2025, 12, 1), "month") and describe(period) == "December 2025"
    assert uncovered_period(question, date(2025, 12, 20), [june, _passage("Held on 18 December.", date(2025, 12, 18), 3)]) is None
    assert uncovered_period("What is the ECB deposit rate?", date(2025, 12, 20), [june, july]) is None
    assert uncovered_period(question, date(2025, 12, 20), []) is None


class _MustNotBeCalled(GenericFakeChatModel):
    def _generate(self, *args, **kwargs):
        raise AssertionError("the LLM was asked although no passage covers the period")

    def _stream(self, *args, **kwargs):
        raise AssertionError("the LLM was asked although no passage covers the period")


@pytest.mark.parametrize("check,asked", [(True, False), (False, True)])
def test_the_chain_abstains_without_asking_the_model(tmp_path, check, asked):
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "ecb.txt").write_text("date 2025-06-05\nECB\n\nThe ECB cut its deposit rate to 2% on Thursday.",
                                    encoding="utf-8")
    emb = DesignedEmbeddings()
    llm = _MustNotBeCalled(messages=iter([])) if not asked else None
    from fakes import scripted_llm

    svc = QAService(settings=Settings(index_dir=tmp_path / "idx", check_coverage=check), embeddings=emb,
                    store=MemoryStore(emb), llm=llm or scripted_llm("The rate was 2% [1]."))
    svc.ingest([folder])
    question = "What was the ECB deposit rate decided in December 2025?"
    answer = svc.ask(question, as_of="2025-12-20")
    if asked:
        assert not answer.abstained and answer.text.startswith("The rate was 2%")
        return
    assert answer.abstained and answer.text.startswith(ABSTAIN_TEXT)
    assert "December 2025" in answer.text and "2025-06-05" in answer.text
    streamed = list(svc.stream(question, as_of="2025-12-20"))
    assert streamed[-1].abstained and "December 2025" in streamed[-1].text
