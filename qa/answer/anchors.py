"""Whether the passages an answer cites speak of what the question names.

A question names its subject with proper names: "Which country won the 2022 FIFA World Cup final?", "Which driver
won the 2022 British Grand Prix at Silverstone?". Asked over passages about other events, the 1.5B model answered
from them anyway and cited them: "The Colorado Avalanche won the 2022 FIFA World Cup final [5]" over an ice-hockey
passage, "Rafael Nadal won the 2022 British Grand Prix at Silverstone [2]" over a Wimbledon one. The claim repeats
the question's words, so it reads as similar to the passage; but the passage itself names neither FIFA nor the
World Cup.

The anchors of a question are its capitalised words after the first (names, places, events), read as the keyword
index reads them. An answer whose cited articles (their whole text and titles: a chunk from the middle of a story
may call its subject "the Games" or "Mr He") hold fewer than half of them does not rest on passages about the
question's subject. Only judged when every cited passage is in the question's language (a
French passage writes "Chine" for "China") and the question has at least two anchors (one name is too little to
tell a subject from a passing mention).
"""

from __future__ import annotations

import calendar
import re
from typing import Callable, Sequence

from qa.answer.terms import terms
from qa.types import Passage
from vectorstore.analysis import has_stemmer

_CAPITALISED = re.compile(r"(?<![\w'’-])[A-Z][\w'’.-]*")
# Days and months are capitalised in English but name a date, not the question's subject ("Which Italian volcano
# erupted on Monday?": the article on Etna need not say "Monday").
_DATE_WORDS = {w.lower() for w in [*calendar.day_name, *calendar.month_name] if w}
MIN_ANCHORS = 2
MIN_SHARE = 0.5


def anchors(question: str, language: str | None) -> set[str]:
    """The question's anchor terms: its capitalised words after the first, stemmed like the keyword index."""
    words = _CAPITALISED.findall(question)
    first = re.match(r"\W*([\w'’.-]+)", question)
    if first and words and words[0] == first.group(1):
        words = words[1:]
    words = [w for w in words if w.lower().strip(".") not in _DATE_WORDS]
    return terms(" ".join(words), language)


def passage_text(passage: Passage) -> str:
    return passage.display_text or passage.chunk.text


def missing_anchors(question: str, cited: Sequence[Passage], language: str | None,
                    text_of: Callable[[Passage], str] = passage_text) -> set[str]:
    """The anchors the cited passages lack, when they lack too many (see the module's docstring); else empty.
    `text_of`: the text a passage stands for (the chain gives its whole article)."""
    if not cited or not has_stemmer(language) or any(p.chunk.language != language for p in cited):
        return set()
    wanted = anchors(question, language)
    if len(wanted) < MIN_ANCHORS:
        return set()
    held = set().union(*(terms(f"{p.chunk.title or ''}\n{text_of(p)}", language) for p in cited))
    missing = wanted - held
    return missing if len(wanted) - len(missing) < MIN_SHARE * len(wanted) else set()
