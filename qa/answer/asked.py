"""What kind of answer a question asks for, and whether a reply gives one.

The 1.5B model sometimes replies without answering: it restates the question ("How many pieces of crown jewels
were stolen from the Louvre? [1]"), names only what the question already names ("He Lifeng spoke with Scott
Bessent" to "With which US official, besides Scott Bessent, did He Lifeng speak?"), or answers "when" without a
date. Such a reply is caught here, and the chain asks once more (qa/answer/chain.py, `_second_look`).

The kinds are read from the question's first words, in English, French and Spanish: a number ("how many",
"combien", "cuántos"), a date ("when", "what year", "quand", "en quelle année"), or anything new (every other
question: the reply must add a content word or a figure to the question's own).
"""

from __future__ import annotations

import calendar
import re

from qa.answer.citations import CITATION
from qa.answer.figures import numbers_in
from qa.answer.terms import terms
from qa.retrieve.dates import MONTHS_FR

_NUMBER_QUESTION = re.compile(
    r"\bhow (?:many|much)\b|\bwhat (?:percentage|percent|share|number|proportion)\b|\bcombien\b|"
    r"\bquel(?:le)? (?:nombre|pourcentage|part|montant|proportion)\b|\bcu[aá]nt[oa]s?\b",
    re.IGNORECASE,
)
_DATE_QUESTION = re.compile(
    r"^\W*(?:when|quand|cu[aá]ndo)\b|\b(?:what|which) (?:date|day|year|month)\b|\b(?:on|in) what (?:date|day|year)\b|"
    r"\bquel(?:le)? (?:jour|date|ann[ée]e|mois)\b|\bqu[ée] (?:d[íi]a|fecha|año|mes)\b",
    re.IGNORECASE,
)
_MONTH_NAMES = [m.lower() for m in calendar.month_name if m] + [m.lower() for m in calendar.month_abbr if m]
_DAY_WORDS = (
    _MONTH_NAMES + list(MONTHS_FR) + [d.lower() for d in calendar.day_name]
    + "lundi mardi mercredi jeudi vendredi samedi dimanche enero febrero marzo abril mayo junio julio agosto "
      "septiembre octubre noviembre diciembre yesterday today tomorrow tonight week month year hier demain "
      "aujourd'hui semaine mois ayer mañana semana".split()
)
_DAY_WORD = re.compile(r"(?<![\w])(?:" + "|".join(re.escape(w) for w in sorted(set(_DAY_WORDS), key=len,
                                                                                    reverse=True)) + r")(?![\w])")


def _last_question(question: str) -> str:
    """The last of several questions ("When did they meet? And where was that?", a follow-up made to stand
    alone): the one the reply answers."""
    asked = [piece for piece in re.split(r"(?<=[?？])\s+", question.strip()) if piece.strip()]
    return asked[-1] if asked else question


def asked_kind(question: str) -> str:
    """"number", "date" or "new" (see the module's docstring), for the last question asked."""
    question = _last_question(question)
    if _NUMBER_QUESTION.search(question):
        return "number"
    if _DATE_QUESTION.search(question):
        return "date"
    return "new"


def gives(reply: str, question: str, language: str | None = None) -> bool:
    """Whether the reply carries the kind of answer the question asks for."""
    body = CITATION.sub(" ", reply)
    kind = asked_kind(question)
    if kind == "number":
        return bool(numbers_in(body))
    if kind == "date":
        return bool(numbers_in(body)) or bool(_DAY_WORD.search(body.lower()))
    return bool(numbers_in(body) - numbers_in(question)) or bool(terms(body, language) - terms(question, language))


WHAT = {"number": "the number asked for", "date": "the date asked for", "new": "the answer itself"}


def second_look_request(question: str) -> str:
    """The follow-up turn sent when the reply does not carry the kind of answer asked for."""
    return (f"Your reply does not give {WHAT[asked_kind(question)]}. Answer the question with it, from the "
            "passages, with its [n] citation. If no passage gives it, reply only: NOT IN ARTICLES.")
