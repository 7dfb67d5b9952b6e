"""Whether the passages found can speak of the period a question names at all.

"What was the ECB deposit rate decided in December 2025?" over articles published up to June 2025: every
passage predates December and none mentions it, so whatever the model says would be a guess (the 1.5B model
answered with June's rate). Such a question is answered "not in the articles" without asking the model.

A passage covers a period when it was published on or after the period's first day, when its publication date
is unknown, or when its text (with relative dates resolved, see qa/retrieve/dates.py) names a day or month inside it —
an older article announcing "the meeting on 18 December" still speaks of December.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import replace
from datetime import date, timedelta
from typing import Sequence

from qa.retrieve.dates import MONTHS_FR
from qa.retrieve.periods import Period, question_period
from qa.retrieve.retriever import question_language
from qa.types import Passage

_MONTHS_ES = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
              "noviembre", "diciembre"]


def _month_pattern(month: int) -> str:
    """The month's names in English (also "Dec." and "Sept."), French and Spanish, as a regex alternation."""
    english = calendar.month_name[month].lower()
    short = calendar.month_abbr[month].lower()
    french = [name for name, number in MONTHS_FR.items() if number == month]  # with the unaccented spellings
    names = [english, rf"{short}\.?", *french, _MONTHS_ES[month - 1]]
    names += ["sept\\.?"] if month == 9 else []
    return "(?:" + "|".join(names) + ")"


def _days(period: Period) -> list[date]:
    span = (period.end - period.start).days
    return [period.start + timedelta(days=i) for i in range(span + 1)] if span <= 31 else []


def _names_day(low: str, day: date) -> bool:
    """ "21 June 2022", "21st June", "21 de junio", "1er juin", "June 21", "Dec. 18", "2022-06-21"."""
    month = _month_pattern(day.month)
    return bool(re.search(rf"\b{day.day}(?:st|nd|rd|th|er)?\s+(?:de\s+)?{month}(?![a-z])", low)
                or re.search(rf"(?<![a-z]){month}\s+{day.day}(?:st|nd|rd|th)?\b(?!\d)", low)
                or day.isoformat() in low)


def mentions(text: str, period: Period, published: date | None = None) -> bool:
    """Whether the text names the period: its year (for a year); its month with the year anywhere in the text,
    or without a year in a text published less than a year before (for a month: "meets again in December" in
    June); one of its days (for a week or a day)."""
    low = text.lower()
    if period.granularity == "year":
        return str(period.start.year) in low
    if period.granularity == "month":
        recent = published is not None and 0 <= (period.start - published).days <= 366
        return (str(period.start.year) in low or recent) and bool(
            re.search(rf"(?<![a-z]){_month_pattern(period.start.month)}(?![a-z])", low))
    return any(_names_day(low, day) for day in _days(period))


# A report can come out a little before the days a question names ("the week of 10 June", "on 28 August"), and a
# feed's date can be a day off: such a story still covers them, for the coverage check and the period filter.
_EARLY_DAYS = {"day": 3, "week": 3}


def covers(passage: Passage, period: Period) -> bool:
    published = passage.chunk.published
    if published is None or published >= period.start - timedelta(days=_EARLY_DAYS.get(period.granularity, 0)):
        return True
    return mentions(passage.display_text or passage.chunk.text, period, published)


def named_period(question: str, as_of: date | None, passages: Sequence[Passage]) -> Period | None:
    """The period the question names, read in its language (guessed among the passages' and English)."""
    among = sorted({p.chunk.language for p in passages if p.chunk.language} | {"en"})
    return question_period(question, as_of, question_language(question, among))


def uncovered_period(question: str, as_of: date | None, passages: Sequence[Passage]) -> Period | None:
    """The period the question names by the calendar when no passage can speak of it, else None. A period named
    relative to the as-of date ("this year", "this week") is left to the model: such questions use it loosely (a
    preview from last December names "this year's" Tony Awards host), and a feed's date may be off; answered
    without the model, 2 of the first 26 realtimeqa-2025 questions were "not in the articles" with the answer in
    the passages (bench/RESULTS.md, 2026-12-07)."""
    if not passages:
        return None
    period = named_period(question, as_of, passages)
    if period is None or period.relative or any(covers(p, period) for p in passages):
        return None
    return period


def describe(period: Period) -> str:
    """"December 2025", "2019", "2025-10-30", or "2025-10-30 to 2025-11-05"."""
    if period.granularity == "year":
        return str(period.start.year)
    if period.granularity == "month":
        return f"{calendar.month_name[period.start.month]} {period.start.year}"
    if period.start == period.end:
        return period.start.isoformat()
    return f"{period.start.isoformat()} to {period.end.isoformat()}"


def not_covered_text(period: Period, passages: Sequence[Passage]) -> str:
    """Why the question is not answered, for the user: the period and the newest passage's date."""
    newest = max((p.chunk.published for p in passages if p.chunk.published), default=None)
    tail = f" The newest passage found is from {newest.isoformat()}." if newest else ""
    return f"They do not reach {describe(period)}.{tail}"


# How long before a period an article naming its days (or month) is taken to speak of it: a preview comes weeks
# (months) ahead, while an older article's "July 4" or "October" is most likely another year's. A year is named
# with its number, so any age will do.
_NAMED_AHEAD = {"day": 31, "week": 31, "month": 183}


def reports_on(passage: Passage, period: Period) -> bool:
    """Whether the passage can report on the period: `covers` it, and when published before it, no longer before
    than `_NAMED_AHEAD` allows ("the vote on June 21" three weeks ahead, not last year's July 4 fireworks)."""
    published = passage.chunk.published
    ahead = _NAMED_AHEAD.get(period.granularity)
    if published is not None and published < period.start and ahead is not None \
            and (period.start - published).days > ahead:
        return False
    return covers(passage, period)


def in_period(question: str, as_of: date | None, passages: Sequence[Passage], least: int = 2) -> list[Passage]:
    """The passages that can report on the period the question names, numbered again from 1, when at least
    `least` dated ones can; otherwise all of them. Undated passages stay (nothing rules them out) but do not
    count. An older article on the same topic ("IRS to stop sending notices", February) beside this week's
    report ("IRS will get through the backlog", June) only gives the model a wrong "this week" to quote; the
    prompt is shorter too."""
    period = named_period(question, as_of, passages) if passages else None
    if period is None:
        return list(passages)
    kept = [p for p in passages if reports_on(p, period)]
    if len(kept) == len(passages) or sum(p.chunk.published is not None for p in kept) < least:
        return list(passages)
    return [replace(p, n=i) for i, p in enumerate(kept, 1)]
