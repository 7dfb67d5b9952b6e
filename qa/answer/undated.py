"""Years the model gives to dates of articles that have none.

An article without a publication date that says "meets Monday, August 28" does not say which year: the passage
shows it as written (qa/retrieve/dates.py resolves partial dates only against a publication date). Asked "When
does Gina Raimondo meet her Chinese counterpart?" with an as-of date in 2026, the model replied "on Monday, August
28, 2026", a year it made up (the figures check lets the as-of year pass, since dated articles' "this year" is
that year). In a sentence that cites only undated passages, a year joined to a day and month that neither those
passages nor the question hold is taken out, and the answer says the article gives no year.
"""

from __future__ import annotations

import calendar
import re
from typing import Sequence

from qa.answer.citations import answer_sentences, cited_numbers
from qa.retrieve.dates import MONTHS_FR
from qa.types import Passage

_MONTH = "|".join(sorted([m for m in calendar.month_name if m] + list(MONTHS_FR), key=len, reverse=True))
# "August 28, 2026", "28 August 2026", "le 28 août 2026": the year after a day and a month
_DATED = re.compile(rf"((?:\b\d{{1,2}}(?:st|nd|rd|th|er)?\s+(?:{_MONTH})|\b(?:{_MONTH})\s+\d{{1,2}}(?:st|nd|rd|th)?)),?"
                    r"\s+((?:1[89]|20)\d\d)\b", re.IGNORECASE)
NO_YEAR = {"en": " (the article gives no year)", "fr": " (l'article ne précise pas l'année)"}


def drop_invented_years(text: str, passages: Sequence[Passage], question: str, language: str | None) -> str:
    """The answer with such years taken out (see the module's docstring), and the note added once."""
    by_n = {p.n: p for p in passages}
    out = text
    for sentence in answer_sentences(text) or [text]:
        cited = [by_n[n] for n in cited_numbers(sentence) if n in by_n]
        if not cited or any(p.chunk.published is not None for p in cited):
            continue
        shown = " ".join(p.display_text or p.chunk.text for p in cited) + " " + question

        def strip(match: re.Match) -> str:
            return match.group(0) if match.group(2) in shown else match.group(1)

        fixed = _DATED.sub(strip, sentence)
        if fixed != sentence:
            note = NO_YEAR.get(language or "en", NO_YEAR["en"])
            marker = re.search(r"\s*\[\d+\]", fixed)
            fixed = fixed[:marker.start()] + note + fixed[marker.start():] if marker else fixed.rstrip(".") + note + "."
            out = out.replace(sentence, fixed, 1)
    return out
