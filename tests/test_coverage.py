"""A question about a period no passage can speak of is answered "not in the articles", without the LLM."""

from __future__ import annotations

from datetime import date

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

from fakes import DesignedEmbeddings, MemoryStore, PromptRecorder
from qa.answer.coverage import covers, describe, in_period, mentions, reports_on, uncovered_period
from qa.retrieve.dates import annotate_dates
from qa.retrieve.periods import Period
from qa.answer.prompt import ABSTAIN_TEXT
from qa.service import QAService
from qa.settings import Recipe, Settings
from qa.types import Chunk, Passage, Retrieved

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

    svc = QAService(settings=Settings(index_dir=tmp_path / "idx"), recipe=Recipe(checks=check), embeddings=emb,
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
    # The passages found are still shown first, marked as not read by the model.
    first, *rest = svc.stream_events(question, as_of="2025-12-20")
    assert isinstance(first, Retrieved) and not first.reading and first.passages
    assert list(first.passages) == rest[-1].passages and len(rest) == 1


WEEK = Period(date(2022, 6, 17), date(2022, 6, 23), "this week", "week")


def test_a_passage_reports_on_a_period_by_date_or_by_naming_it_within_a_year():
    assert reports_on(_passage("The IRS will clear the backlog.", date(2022, 6, 21)), WEEK)
    assert reports_on(_passage("The IRS spoke.", None), WEEK)
    assert reports_on(_passage("The vote is set for June 21.", date(2022, 6, 1)), WEEK)
    assert not reports_on(_passage("The IRS will stop sending notices this week.", date(2022, 2, 11)), WEEK)
    # the same days of another year: last year's article about "June 21" is not about this week, nor is one
    # written months before it
    assert not reports_on(_passage("The vote is set for June 21.", date(2021, 6, 20)), WEEK)
    assert not reports_on(_passage("The vote is set for June 21.", date(2022, 4, 1)), WEEK)
    # a month: a preview up to six months ahead counts, last year's December does not; a year is named by number
    assert reports_on(_passage("The council meets again in December.", date(2025, 6, 5)), DECEMBER)
    assert not reports_on(_passage("The council met in December.", date(2024, 12, 15)), DECEMBER)
    year = Period(date(2025, 1, 1), date(2025, 12, 31), "in 2025", "year")
    assert reports_on(_passage("The plan runs until 2025.", date(2021, 3, 1)), year)


def test_passages_that_cannot_report_on_the_question_period_leave_the_prompt_when_two_can():
    as_of = date(2022, 6, 23)
    june = _passage("The IRS will get through the backlog of 2021 returns this week.", date(2022, 6, 21), 1)
    feb = _passage("The IRS announced this week it will stop sending notices.", date(2022, 2, 11), 2)
    june2 = _passage("The backlog should be cleared this week, the IRS said.", date(2022, 6, 22), 3)
    question = "The IRS announced it will do what this week?"
    kept = in_period(question, as_of, [june, feb, june2])
    assert [(p.n, p.chunk.chunk_id) for p in kept] == [(1, "c1"), (2, "c3")]  # numbered again
    # one passage in the period is not enough to leave the others out; none is the coverage check's case
    assert in_period(question, as_of, [june, feb]) == [june, feb]
    assert in_period(question, as_of, [feb]) == [feb]
    # no period named: nothing is left out
    assert in_period("What did the IRS announce?", as_of, [june, feb, june2]) == [june, feb, june2]
    # undated passages stay but do not count: two of them do not push a dated one out
    undated = [_passage("The IRS spoke.", None, 4), _passage("The IRS said more.", None, 5)]
    assert in_period(question, as_of, [feb, *undated]) == [feb, *undated]
    assert [p.chunk.chunk_id for p in in_period(question, as_of, [june, undated[0], feb, june2])] == ["c1", "c4", "c3"]


@pytest.mark.parametrize("on", [True, False])
def test_the_chain_shows_only_the_passages_of_the_question_period(tmp_path, on):
    from fakes import scripted_llm

    folder = tmp_path / "a"
    folder.mkdir()
    for name, day, text in (("june", "2022-06-21", "The ECB rate decision this week: the rate was held."),
                            ("june2", "2022-06-22", "The ECB rate was held on Tuesday, the ECB said."),
                            ("feb", "2022-02-10", "The ECB rate decision this week: the rate was cut.")):
        (folder / f"{name}.txt").write_text(f"date {day}\nECB {name}\n\n{text}", encoding="utf-8")

    emb = DesignedEmbeddings()
    llm = scripted_llm("The rate was held [1].")
    prompts = PromptRecorder()
    llm.callbacks = [prompts]
    svc = QAService(settings=Settings(index_dir=tmp_path / "idx"), recipe=Recipe(checks=on, max_per_article=0),
                    embeddings=emb, store=MemoryStore(emb), llm=llm)
    svc.ingest([folder])
    answer = svc.ask("What was the ECB rate decision this week?", as_of="2022-06-23")
    assert not answer.abstained
    assert ("the rate was cut" in prompts.seen[0]) is not on
    assert "the rate was held" in prompts.seen[0]
    shown = [n for n in (1, 2, 3) if f"[{n}]" in prompts.seen[0]]
    assert shown == ([1, 2] if on else [1, 2, 3])  # numbered again, no gap
    assert [c.n for c in answer.citations] == [1] and answer.citations[0].passage.chunk.published.month == 6
    assert len(answer.passages) == len(shown)


def test_a_report_a_few_days_before_the_week_still_covers_it():
    week = Period(date(2022, 6, 10), date(2022, 6, 16), "this week", "week")
    assert covers(_passage("The senators reached a deal.", date(2022, 6, 8)), week)  # two days early
    assert not covers(_passage("The senators reached a deal.", date(2022, 6, 3)), week)  # a week early
    month = Period(date(2025, 12, 1), date(2025, 12, 31), "December", "month")
    assert not covers(_passage("Rates were held.", date(2025, 11, 29)), month)  # a month is named, not guessed


def test_a_period_named_relative_to_the_as_of_date_is_left_to_the_model():
    preview = [_passage("Ariana DeBose will host the Tony Awards next June.", date(2024, 12, 10))]
    as_of = date(2025, 2, 20)
    assert uncovered_period("Which singer is set to host the Tony Awards this year?", as_of, preview) is None
    assert uncovered_period("Which singer hosted the Tony Awards gala in January 2025?", as_of, preview) is not None

