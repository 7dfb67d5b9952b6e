"""Resolve partial and relative dates in article text against the article's publication date.

A 1.5B model does not do date arithmetic reliably, so code does it: "en octobre" in an article dated
2026-02-10 becomes "en octobre (= October 2025)" in the text the model reads. A month or weekday without a
year is taken as the latest one on or before the publication date, unless its sentence speaks of the
future ("will", "expected", "prochain", "à venir", ...), in which case it is the next one on or after it.
English and French are covered; other languages pass through unchanged.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from qa.errors import InputError

_MONTHS_EN = {name: i for i, name in enumerate(calendar.month_name) if name}
MONTHS_FR = {
    "janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7,
    "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11, "décembre": 12, "decembre": 12,
}
_WEEKDAYS_EN = {name: i for i, name in enumerate(calendar.day_name)}
_WEEKDAYS_FR = {"lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6}

_FUTURE_CUES = re.compile(
    r"\b(will|won't|shall|expected|expects|upcoming|next|planned|plans|scheduled|is to|are to|"
    # "is due to meet", "due to open on Friday" look ahead; "due to rain" (because of) does not.
    r"(?:is|are|'s|’s)(?:[ \u00a0]+(?:also|now|still|\w+ly))?[ \u00a0]+due[ \u00a0]+to|"
    r"due[ \u00a0]+to[ \u00a0]+(?:be|open|start|begin|meet|visit|vote|hold|sign|travel|speak|arrive|take|return|"
    r"launch|testify|appear|leave|end|close|resume|announce|release|publish|decide|rule|deliver|attend|host|"
    r"face|go|come|receive|make|give|land|debate|present|unveil|stand|run|play|report|retire|expire)|"
    r"prochain|prochaine|prochains|prochaines|prévu|prévue|prévus|prévues|devrait|devraient|aura|auront|"
    r"sera|seront|ira|iront|va|vont|à venir|attendu|attendue|would)\b"
    # French conditional used for reported future ("il se rendrait en avril"), but not "aurait" (reported past)
    # nor nouns that end the same way.
    r"|\b(?!(?:au|ret|ext|port|t|att|abst|dist)rai(?:en)?t\b)\w{2,}rai(?:en)?t\b",
    re.IGNORECASE,
)

# English month names are capitalised in news text; requiring that avoids the verb "may" and "march".
_MONTH_RE = re.compile(
    r"\b(?P<month>" + "|".join(_MONTHS_EN) + r")\b(?!,?[ \u00a0]+\d{1,2},?[ \u00a0]+\d{4})(?!,?[ \u00a0]+\d{4})"
    r"(?:[ \u00a0]+(?P<mday>\d{1,2})(?:st|nd|rd|th)?\b(?!\s*(?:%|[.,]\d)))?"  # "on March 3": the date, whole
    r"|\b(?P<mois>" + "|".join(sorted(MONTHS_FR, key=len, reverse=True)) + r")\b(?!,?[ \u00a0]+\d{4})",
)
# A weekday followed by its full date ("Monday, February 2, 2026", "Monday, 2 February 2026", "lundi 2 février
# 2026") is already absolute. "next"/"last"/"prochain"/"dernier" make it strictly after/before publication.
_FULL_DATE_AFTER = r"(?!,?[ \u00a0]+\w+[ \u00a0]+\d{1,2},?[ \u00a0]+\d{4})(?!,?[ \u00a0]+\d{1,2}(?:er)?[ \u00a0]+\w+[ \u00a0]+\d{4})"
# Its day and month without the year ("Wednesday, August 3", "mercredi 3 août") date it too: the month is
# resolved on its own, and the weekday must not become another day (it read "Wednesday (= 27 July)").
_NAMES = "|".join([*_MONTHS_EN, *sorted(MONTHS_FR, key=len, reverse=True)])
_DATE_AFTER = (_FULL_DATE_AFTER + r"(?!,?[ \u00a0]+(?:" + _NAMES + r")[ \u00a0]+\d{1,2}\b)"
               r"(?!,?[ \u00a0]+\d{1,2}(?:er)?[ \u00a0]+(?:" + _NAMES + r")\b)")
_WEEKDAY_RE = re.compile(
    r"(?:\b(?P<before>next|last|this coming|coming|past)[ \u00a0]+)?"
    r"\b(?P<day>" + "|".join(_WEEKDAYS_EN) + r")\b" + _DATE_AFTER
    + r"|\b(?P<jour>" + "|".join(_WEEKDAYS_FR) + r")\b" + _DATE_AFTER
    + r"(?:[ \u00a0]+(?P<after>prochain|dernier)\b)?",
    re.IGNORECASE,
)
_RELATIVE = [
    (re.compile(r"\b(last week|la semaine dernière|la semaine passée)\b", re.IGNORECASE), "last_week"),
    (re.compile(r"\b(this week|cette semaine)\b", re.IGNORECASE), "this_week"),
    (re.compile(r"\b(next week|la semaine prochaine)\b", re.IGNORECASE), "next_week"),
    (re.compile(r"\b(the day before yesterday|avant-hier)\b", re.IGNORECASE), "day_before_yesterday"),
    (re.compile(r"\b(the day after tomorrow|après-demain|apres-demain)\b", re.IGNORECASE), "day_after_tomorrow"),
    (re.compile(r"(?<!before )(?<!-)\b(yesterday|hier)\b", re.IGNORECASE), "yesterday"),
    (re.compile(r"(?<!after )(?<!-)\b(tomorrow|demain)\b", re.IGNORECASE), "tomorrow"),
    (re.compile(r"\b(last month|le mois dernier)\b", re.IGNORECASE), "last_month"),
    (re.compile(r"\b(last year|l'an dernier|l'année dernière|l’an dernier|l’année dernière)\b", re.IGNORECASE),
     "last_year"),
]
_SENTENCE_END = re.compile(r"(?<=[.!?»])\s+")


def _month_label(year: int, month: int) -> str:
    return f"{calendar.month_name[month]} {year}"


def _day_label(day: date) -> str:
    return f"{calendar.day_name[day.weekday()]} {day.day} {calendar.month_name[day.month]} {day.year}"


def resolve_month(month: int, published: date, future: bool) -> tuple[int, int]:
    """(year, month) of a month named without a year in an article published on `published`."""
    if future:
        return (published.year if month >= published.month else published.year + 1, month)
    return (published.year if month <= published.month else published.year - 1, month)


def resolve_weekday(weekday: int, published: date, future: bool, strict: bool = False) -> date:
    """The date of a weekday named without a date: the latest on/before (or next on/after) publication;
    `strict` ("next Monday", "lundi dernier"): never the publication day itself."""
    if future:
        ahead = (weekday - published.weekday()) % 7
        return published + timedelta(days=ahead or (7 if strict else 0))
    back = (published.weekday() - weekday) % 7
    return published - timedelta(days=back or (7 if strict else 0))


def _relative(kind: str, published: date) -> str:
    monday = published - timedelta(days=published.weekday())
    if kind == "last_week":
        return f"week of {_day_label(monday - timedelta(days=7))}"
    if kind == "this_week":
        return f"week of {_day_label(monday)}"
    if kind == "next_week":
        return f"week of {_day_label(monday + timedelta(days=7))}"
    if kind == "yesterday":
        return _day_label(published - timedelta(days=1))
    if kind == "day_before_yesterday":
        return _day_label(published - timedelta(days=2))
    if kind == "day_after_tomorrow":
        return _day_label(published + timedelta(days=2))
    if kind == "tomorrow":
        return _day_label(published + timedelta(days=1))
    if kind == "last_month":
        first = published.replace(day=1) - timedelta(days=1)
        return _month_label(first.year, first.month)
    return str(published.year - 1)  # last_year


def annotate_sentence(sentence: str, published: date) -> str:
    future = bool(_FUTURE_CUES.search(sentence))
    spans: list[tuple[int, str]] = []
    for m in _MONTH_RE.finditer(sentence):
        name = m.group("month") or m.group("mois")
        number = _MONTHS_EN.get(name) or MONTHS_FR.get(name.lower())
        if number:
            year, month = resolve_month(number, published, future)
            label = _month_label(year, month)
            if m.group("month") and m.group("mday"):
                try:
                    label = _day_label(date(year, month, int(m.group("mday"))))
                except ValueError:
                    pass  # "February 30": the month is still right
            spans.append((m.end(), label))
    for m in _WEEKDAY_RE.finditer(sentence):
        name = m.group("day") or m.group("jour")
        if m.group("day") and not name[0].isupper():
            continue  # English weekdays are capitalised in news text
        number = _WEEKDAYS_EN.get(name.capitalize()) if m.group("day") else _WEEKDAYS_FR.get(name.lower())
        if number is None:
            continue
        qualifier = (m.group("before") or m.group("after") or "").lower()
        when = future
        if qualifier in {"next", "coming", "this coming", "prochain"}:
            when = True
        elif qualifier in {"last", "past", "dernier"}:
            when = False
        day = resolve_weekday(number, published, when, strict=qualifier in {"next", "last", "prochain", "dernier"})
        spans.append((m.end(), _day_label(day)))
    for pattern, kind in _RELATIVE:
        for m in pattern.finditer(sentence):
            spans.append((m.end(), _relative(kind, published)))
    for end, label in sorted(spans, reverse=True):
        sentence = f"{sentence[:end]} (= {label}){sentence[end:]}"
    return sentence


def annotate_dates(text: str, published: date | None) -> str:
    """The text with each partial or relative date followed by its absolute value, e.g. "(= October 2025)"."""
    if published is None or not text:
        return text
    parts = _SENTENCE_END.split(text)
    separators = _SENTENCE_END.findall(text)
    out = [annotate_sentence(parts[0], published)]
    for sep, part in zip(separators, parts[1:]):
        out.append(sep)
        out.append(annotate_sentence(part, published))
    return "".join(out)


def parse_as_of(value: str | date | None) -> date | None:
    """A user-given date (YYYY-MM-DD or a date) or None; anything else is an InputError naming the format."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise InputError(f"as-of date {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-02-11") from exc
