"""What a question may retrieve and what it asks about: the as-of date and filters as a store `where` clause,
date windows, the question's language and its recency cues (used by qa.retrieve.retriever and the service)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from qa.retrieve.dates import parse_as_of


def day_number(d: date) -> int:
    """The `published_int` form of a day: 2025-10-19 -> 20251019."""
    return int(d.strftime("%Y%m%d"))


@dataclass(frozen=True)
class Filters:
    """Optional limits on what may be retrieved, besides the as-of date."""

    date_from: date | None = None
    date_to: date | None = None
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict | None) -> Filters:
        data = data or {}
        return cls(
            date_from=parse_as_of(data.get("date_from")),
            date_to=parse_as_of(data.get("date_to")),
            sources=tuple(data.get("sources") or ()),
            languages=tuple(data.get("languages") or ()),
        )


def as_of_filter(as_of: date | None, filters: Filters | None = None) -> dict | None:
    """Chroma `where` clause: published on or before `as_of` (undated articles too), plus the filters."""
    clauses: list[dict] = []
    upper = min([d for d in (as_of, filters.date_to if filters else None) if d], default=None)
    if upper is not None:
        clauses.append({"published_int": {"$lte": day_number(upper)}})
    if filters is not None:
        if filters.date_from is not None:
            clauses.append({"published_int": {"$gte": day_number(filters.date_from)}})
        if filters.sources:
            clauses.append({"source": {"$in": list(filters.sources)}})
        if filters.languages:
            clauses.append({"language": {"$in": list(filters.languages)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def published_between(first: date, last: date) -> dict:
    """`where` clause: published from `first` to `last`, both included (undated articles are left out)."""
    return {"$and": [{"published_int": {"$gte": day_number(first)}}, {"published_int": {"$lte": day_number(last)}}]}


RECENCY_CUES = re.compile(
    r"\b(latest|last|most recent|recent(ly)?|newest|current(ly)?|this week|now|"
    r"derni[eè]re?s?|r[ée]cemment|plus r[ée]cente?s?|actuellement|cette semaine|"
    r"[úu]ltim[oa]s?|recientes?|recientemente|actualmente|esta semana)\b",
    re.IGNORECASE,
)


def wants_recent(question: str) -> bool:
    """Whether the question asks for the latest/last/most recent state of things (en, fr, es cues)."""
    return bool(RECENCY_CUES.search(question))


def question_language(question: str, among: Sequence[str]) -> str | None:
    """The question's language among the corpus languages (py3langid), None when it cannot tell."""
    if len(question.strip()) < 8 or not among:
        return None
    import py3langid

    scores = dict(py3langid.rank(question))
    known = [lang for lang in among if lang in scores]
    return max(known, key=lambda lang: scores[lang]) if known else None
