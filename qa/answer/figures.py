"""Figures in an answer that no passage contains: the model drew them from elsewhere.

Similarity cannot tell a made-up claim on the passage's topic from a supported one ("the 2019 Notre-Dame fire
started on April 19 and was put out on May 10", written next to a passage about the reopening, scores like a
true claim). Numbers can: over run 3 of data/eval/sample_qa.jsonl, none of the 33 answered questions' answers
held a number missing from its passages and question, and the made-up answer held two (10 and 19).

A sentence stating such a number loses its citations. When such sentences make up half the answer or more,
the answer is not given at all (qa/answer/chain.py): what is left would be the model's memory with a citation on it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Iterable, Sequence

from qa.answer.citations import CITATION, uncite
from qa.types import Passage

# A space joins digits only before a group of exactly three ("1 000 personnes"), not "June 5 2025".
_NUMBER = re.compile(r"\d+(?:[.,]\d+|[\u202f\u00a0 ]\d{3}(?!\d))*")

# Small numbers written as words in articles, so "7 minutes" in an answer matches "seven minutes" in a passage.
_WORDS = {
    "en": "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
          "seventeen eighteen nineteen twenty",
    "fr": "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize dix-sept "
          "dix-huit dix-neuf vingt",
    "es": "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciséis "
          "diecisiete dieciocho diecinueve veinte",
}
_NUMBER_WORDS = {word: str(i) for words in _WORDS.values() for i, word in enumerate(words.split())}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90, "vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60}
_NUMBER_WORDS |= {word: str(value) for word, value in _TENS.items()}
for _tens, _value in _TENS.items():  # "twenty-one", "vingt-deux"
    _units = _WORDS["en" if _tens.endswith("y") else "fr"].split()[1:10]
    _NUMBER_WORDS |= {f"{_tens}-{unit}": str(_value + i) for i, unit in enumerate(_units, start=1)}
_NUMBER_WORDS |= {"first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6",
                  "seventh": "7", "eighth": "8", "ninth": "9", "tenth": "10", "une": "1", "premier": "1",
                  "première": "1", "half": "0.5", "dozen": "12", "douzaine": "12"}
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")  # "seven-year-old" and "dix-sept" are read whole and by parts


def _readings(token: str) -> set[str]:
    """Every value a written number may have: "1,000" is a thousand or 1.0; "2,5" is 2.5; "2.0" is 2."""
    compact = re.sub(r"[\u202f\u00a0 ]", "", token)
    groups = re.split(r"[.,]", compact)
    # separators of thousands, only where each group after one has three digits ("0.5" is no 5, "1,000" is 1000)
    values = {"".join(groups)} if all(len(g) == 3 for g in groups[1:]) else set()
    decimals = [compact.replace(",", ".")]  # a comma or a point as the decimal mark
    if all(len(g) == 3 for g in compact.split(",")[0].split(".")[1:]):
        decimals.append(compact.replace(".", "").replace(",", "."))  # "1.000,5": points group thousands
    for decimal in decimals:
        try:
            number = float(decimal)
        except ValueError:
            continue
        values.add(f"{number:g}" if number < 1e15 else decimal)
    return {v.lstrip("0") or "0" for v in values}


# A share: "40%", "40 %", "a 25-percent tariff", "40 percent", "quarante pour cent", "40 to 50%". A share in an answer
# is known only as a share: "40%" is not backed by "the fastest pace in 40 years" (realtimeqa's gas-price question
# drew "40%" where the passage said 60%).
_MARK = r"(?:%|percent\b|per\s?cent\b|pour\s?cent\b|por\s?ciento\b)"
_MARKS = re.compile(_MARK, re.IGNORECASE)
_MARK_AFTER = re.compile(rf"[\s-]?{_MARK}", re.IGNORECASE)  # right after a number
# The number (or range) a share marker follows: "40%", "25-percent", "40-50%", "40 to 50 percent", "40 a 50 %".
_SHARE_TAIL = re.compile(rf"(?:({_NUMBER.pattern})\s*(?:-|–|\bto\b|\bà\b|\ba\b)\s*)?({_NUMBER.pattern})[\s-]?$",
                         re.IGNORECASE)
_JOINERS = {"and", "et", "y"}  # "vingt et un", "veintiuno" aside


def shares_in(text: str) -> set[str]:
    """Every reading of the shares in a text, each with a "%" ("60%", "2.5%"): numerals, ranges (both ends)
    and number words ("forty-five per cent", "twenty one percent", "vingt et un pour cent")."""
    found: set[str] = set()
    for mark in _MARKS.finditer(text):
        before = text[max(0, mark.start() - 60):mark.start()]
        tail = _SHARE_TAIL.search(before)
        if tail:
            values = [v for v in tail.groups() if v]
        else:
            words = [w for w in _WORD.findall(before.lower())[-3:] if w not in _JOINERS]
            joined = ("-".join(words[i:]) for i in range(len(words)))
            values = next(([_NUMBER_WORDS[j]] for j in joined if j in _NUMBER_WORDS), [])
        for value in values:
            found |= {f"{r}%" for r in _readings(value.strip())}
    return found


def numbers_in(text: str) -> set[str]:
    """All readings of the numbers in a text, numerals and small number words alike."""
    found: set[str] = set()
    for token in _NUMBER.findall(text):
        found |= _readings(token.strip())
    for word in _WORD.findall(text.lower()):
        for part in dict.fromkeys([word, *word.split("-")]):
            if part in _NUMBER_WORDS:
                found |= _readings(_NUMBER_WORDS[part])
    return found


def known_numbers(passages: Sequence[Passage], question: str, as_of: date | None) -> set[str]:
    """Numbers the answer may state: all the prompt showed the model — each passage as shown (dates resolved),
    its title and publication date (day, month, year) — the question, and the as-of year (not its month and
    day: an as-of of 10 December would excuse any "10")."""
    texts: Iterable[str] = [text for p in passages for text in (p.display_text or p.chunk.text, p.chunk.title or "")]
    known = set().union(*(numbers_in(t) | shares_in(t) for t in texts)) if passages else set()
    for p in passages:
        if p.chunk.published is not None:
            known |= {str(p.chunk.published.year), str(p.chunk.published.month), str(p.chunk.published.day)}
    known |= numbers_in(question) | shares_in(question)
    known.add(str((as_of or date.today()).year))
    return known


def drop_unsupported_figures(text: str, sentences: Sequence[str], known: set[str]) -> tuple[str, list[int]]:
    """Remove the citation markers of the sentences that state an invented number, in place (line breaks and
    lists kept); returns the text and the numbers of the citations removed."""
    return uncite(text, sentences, lambda sentence: bool(invented(sentence, known)))


def invented(sentence: str, known: set[str]) -> list[str]:
    """The numbers of a sentence (citation markers aside) that no reading of any known number matches; a share
    ("40%") is matched by known shares only."""
    out = []
    plain = CITATION.sub(" ", sentence)
    for match in _NUMBER.finditer(plain):
        token = match.group(0).strip()
        share = _MARK_AFTER.match(plain, match.end())
        readings = {f"{r}%" for r in _readings(token)} if share else _readings(token)
        if not readings & known:
            out.append(token + ("%" if share else ""))
    return out
