"""Metric arithmetic for evaluation. Pure functions over plain values, tested on fixed inputs."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Iterable, Sequence

from qa.answer.citations import CITATION

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_THOUSANDS = re.compile(r"(?<=\d)[,\u202f\u00a0](?=\d{3}\b)")  # "1,000" -> "1000"
# Scripts written without spaces between words: an answer is matched as a plain substring there.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\u0e00-\u0e7f]")


# Languages whose number words text2num turns into digits ("six months" -> "6 months"); others are left as they are.
NUMBER_WORD_LANGUAGES = frozenset({"en", "fr", "es", "pt", "de", "nl", "da", "it"})


def number_words_to_digits(text: str, language: str | None = "en") -> str:
    """Write numbers spelled out in `language` (None: English) as digits (text2num's alpha2digit), so that "six
    months" matches the option "6 months" and "One." the option "1". Every number counts, "one" included, so
    "no one" reads "no 1": harmless when both sides are read the same way, but it can make a reply seem to name
    an option "1" as well. Vague amounts become numbers too ("hundreds of" reads "100 of")."""
    if not text or (language or "en") not in NUMBER_WORD_LANGUAGES:
        return text
    from text_to_num import alpha2digit

    return alpha2digit(text, language or "en", threshold=0)


_AMOUNT = re.compile(r"^(\S*\d\S*) (.+)$")  # "6 months" -> ("6", "months")


def _amount(choice: str) -> tuple[str, str] | None:
    """(number, unit) of an option such as "6 months", the unit without a plural s; None for other options."""
    match = _AMOUNT.match(normalize(choice))
    return (match.group(1), match.group(2).removesuffix("s")) if match else None


def _names_other_amount(rest: str, right: str, choice: str) -> bool:
    """Whether `rest` (the normalised reply with the right option replaced by "|") joins the number of `choice` to
    another number or to the right option, where `choice` and the right option share their unit: "3 or 6 months"
    and "between 3 and 6 months" hedge between "3 months" and "6 months"; "3 weeks" names another unit."""
    mine, theirs = _amount(right), _amount(choice)
    if not (mine and theirs and mine[1] == theirs[1]):
        return False
    return re.search(rf"(?<!\S){re.escape(theirs[0])} (?:or|and|to|ou|et|a)(?!\S)", rest) is not None


def normalize(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse spaces (for answer matching)."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return " ".join(_PUNCT.sub(" ", _THOUSANDS.sub("", folded)).split())


def contains(haystack: str, needle: str) -> bool:
    """Whether `needle` stands in `haystack` as whole words once both are normalised."""
    n = normalize(needle)
    if not n:
        return False
    if _UNSPACED.search(n):  # Chinese, Japanese, Thai...: no word boundaries to require
        return n in normalize(haystack)
    return f" {n} " in f" {normalize(haystack)} "


def answer_correct(answer: str, accepted: Sequence[str], choices: Sequence[str] = (),
                   language: str | None = "en") -> bool:
    """Free form: contains an accepted answer. Multiple choice: contains the right choice and no other.
    Citation markers are not part of the answer: "$5 [3]" does not name the choice "$3". Numbers spelled out in
    `language` (the question's) match their digits: "six months" is the choice "6 months"."""
    if not accepted:
        return False
    answer = number_words_to_digits(CITATION.sub(" ", answer), language)
    accepted = [number_words_to_digits(a, language) for a in accepted]
    choices = [number_words_to_digits(c, language) for c in choices]
    if choices:
        right = accepted[0]
        if not contains(answer, right):
            return False
        # A wrong choice inside the right one ("Biden" in "Joe Biden") is only counted where it stands alone.
        rest = f" {normalize(answer)} ".replace(f" {normalize(right)} ", " | ")
        return not any(contains(rest, c) or _names_other_amount(rest, right, c) for c in choices if c != right)
    return any(contains(answer, a) for a in accepted)


def first_gold_rank(is_gold: Sequence[bool]) -> int | None:
    """1-based rank of the first gold item, or None."""
    return next((i + 1 for i, g in enumerate(is_gold) if g), None)


def hit_at(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None, k: int = 10) -> float:
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def citation_precision(cited_gold: Sequence[bool]) -> float | None:
    """Share of cited passages that come from gold articles (None when nothing was cited)."""
    return sum(cited_gold) / len(cited_gold) if cited_gold else None


def citation_recall(cited_gold_articles: Iterable[str], gold_articles: Iterable[str], expected: int = 0) -> float | None:
    """Share of gold articles that at least one citation points at (None when there is no gold). `expected`:
    how many gold articles the question names, when more than were retrieved (the others count as missed)."""
    gold = set(gold_articles)
    total = max(len(gold), expected)
    return len(gold & set(cited_gold_articles)) / total if total else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), None for no values."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    data = [v for v in values if v is not None]
    return sum(data) / len(data) if data else None
