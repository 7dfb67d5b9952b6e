"""Explicit periods in a question ("in October 2025", "last week", "en janvier", "el 28 de abril") as date ranges,
relative to the as-of date (past preferred): relative periods ("this week", "le mois dernier") are found by
pattern, other dates by dateparser's search, and every phrase is read by dateparser in the question's language."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

# Bare numbers are too ambiguous to be a period ("the 2022 World Cup" is a year, "3 people" is not a day).
_MIN_PHRASE = 3

# Relative periods found by pattern and then read by dateparser: its own search misses "this week" in many
# questions (in 13 of 41 realtimeqa questions that say it, e.g. "tested positive for Covid-19 this week?").
# "today" is not among them: like "now", it asks for the current state, not for articles of that one day;
# nor are "past month/year" (rolling windows the as-of filter already bounds). "last week of October" is a
# date dateparser reads, not "last week".
_RELATIVE = re.compile(
    r"\b(?:(?:this|last) (?:week|month|year)|past week|yesterday|"
    r"cette (?:semaine|ann[ée]e)|la semaine derni[èe]re|ce mois[- ]ci|le mois dernier|l['’](?:ann[ée]e|an) derni[èe]re?|"
    r"hier|esta semana|la semana pasada|este (?:mes|año)|el (?:mes|año) pasado|ayer)\b(?!\s+(?:of|in|de|du)\b)",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(?:1[89]|20)\d\d\b")
_DURATION = re.compile(r"\b(?:years?|months?|weeks?|days?|ans|ann[ée]es|mois|semaines|jours|años|meses|semanas|"
                       r"d[íi]as)$", re.IGNORECASE)
_NOT_PERIODS = {"now", "maintenant", "ahora", "actuellement", "currently", "today", "aujourd'hui", "hoy"}
# Month names that are also English words, written in lower case: "Which country may soon no longer be classified
# as measles-free?" named no May.
_VERBS = {"may", "march"}
_SEASON = re.compile(r"\b\d{4}\s*[-–/]\s*\d{2,4}\b")  # "the 2024-25 season" is no day


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    phrase: str
    granularity: str  # day, week, month or year

    @property
    def relative(self) -> bool:
        """Named relative to the as-of date ("this week", "this year", "yesterday", "il y a deux jours"), not by
        the calendar ("in December 2025", "on 28 August")."""
        return bool(_RELATIVE.fullmatch(self.phrase) or re.search(r"\bago\b|\bil y a\b|\bhace\b", self.phrase, re.I))

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


def _names_a_date(phrase: str, parser) -> bool:
    """Whether a phrase found by dateparser's search names a date: a relative period, a year, "ago", or a word
    that is a date by itself (a month or weekday). Durations ("after more than 60 years", "12 months"), stray
    numbers ("by a 7", from "a 7.0-magnitude earthquake") and "now" are not periods."""
    if phrase.lower() in _NOT_PERIODS or _SEASON.search(phrase) or phrase in _VERBS:
        return False
    if _RELATIVE.fullmatch(phrase) or _YEAR.search(phrase) or re.search(r"\bago\b|\bil y a\b|\bhace\b", phrase, re.I):
        return True
    if _DURATION.search(phrase):
        return False
    words = [w for w in re.findall(r"[^\W\d_]{3,}", phrase) if w.lower() not in _NOT_PERIODS]
    return any(parser.get_date_data(w).date_obj is not None for w in words)


def question_period(question: str, as_of: date | None = None, language: str | None = None) -> Period | None:
    """The first explicit period in the question, or None. A period after the as-of date is not returned.
    Cached: retrieval and the coverage check both ask for the same question's period."""
    return _period(question, as_of or date.today(), language)


@lru_cache(maxsize=2048)
def _period(question: str, as_of: date, language: str | None) -> Period | None:
    from dateparser.date import DateDataParser
    from dateparser.search import search_dates

    base = datetime.combine(as_of, datetime.min.time())
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
    languages = [language] if language else None
    try:
        found = search_dates(question, languages=languages, settings=settings) or []
    except Exception:  # dateparser raises assorted errors on odd input; the patterns' phrases still count
        found = []
    parser = DateDataParser(languages=languages, settings=settings)
    lowered = question.lower()
    phrases = [(m.start(), m.group(0).lower().replace("past week", "this week").replace("’", "'")) for m in _RELATIVE.finditer(question)]
    phrases += [(lowered.find(p.lower()), p.strip(" ,.?!;:")) for p, _when in found]
    for _where, phrase in sorted(phrases, key=lambda item: item[0]):
        if len(phrase) < _MIN_PHRASE or (phrase.isdigit() and len(phrase) != 4) or not _names_a_date(phrase, parser):
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
