"""Explicit periods in a question ("in October 2025", "last week", "en janvier", "el 28 de abril") as date ranges,
found and read by dateparser in the question's language, relative to the as-of date (past preferred)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

# Bare numbers are too ambiguous to be a period ("the 2022 World Cup" is a year, "3 people" is not a day).
_MIN_PHRASE = 3


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    phrase: str
    granularity: str  # day, week, month or year

    def contains(self, day: date, grace_days: int = 0) -> bool:
        """Within the period, or published up to `grace_days` after it (reports follow events)."""
        return self.start <= day <= self.end + timedelta(days=grace_days)


def _span(anchor: date, granularity: str) -> tuple[date, date]:
    if granularity == "year":
        return date(anchor.year, 1, 1), date(anchor.year, 12, 31)
    if granularity == "month":
        last = calendar.monthrange(anchor.year, anchor.month)[1]
        return date(anchor.year, anchor.month, 1), date(anchor.year, anchor.month, last)
    if granularity == "week":
        # "this week" / "last week" in the news: the seven days up to the anchor, not a calendar week (a
        # Thursday question about "this week" includes last Sunday's article).
        return anchor - timedelta(days=6), anchor
    return anchor, anchor


def question_period(question: str, as_of: date | None = None, language: str | None = None) -> Period | None:
    """The first explicit period in the question, or None. A period after the as-of date is not returned."""
    from dateparser.date import DateDataParser
    from dateparser.search import search_dates

    base = datetime.combine(as_of or date.today(), datetime.min.time())
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
    languages = [language] if language else None
    try:
        found = search_dates(question, languages=languages, settings=settings) or []
    except Exception:  # dateparser raises assorted errors on odd input; no period is the safe reading
        return None
    parser = DateDataParser(languages=languages, settings=settings)
    for phrase, _when in found:
        phrase = phrase.strip(" ,.?!;:")
        if len(phrase) < _MIN_PHRASE or (phrase.isdigit() and len(phrase) != 4):
            continue
        data = parser.get_date_data(phrase)
        if data.date_obj is None:
            continue
        granularity = data.period or "day"
        start, end = _span(data.date_obj.date(), granularity)
        if start > base.date():
            continue
        return Period(start, min(end, base.date()), phrase, granularity)
    return None
