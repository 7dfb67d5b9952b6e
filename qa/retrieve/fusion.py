"""Reciprocal-rank fusion of ranked lists and the per-article cap on the fused order (used by qa.retrieve.retriever)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class Fusion:
    """Weights of the reciprocal-rank fusion: score = sum of weight / (rrf_k + rank) over the ranked lists.

    Recency ranks newest first (by week) those of the best `recency_pool` fused candidates whose dense similarity
    is within `recency_margin` of the best one, with its own small constant `recency_k`: among passages about the
    same thing the newer ones move up, while a new but less related chunk gains nothing. Questions about the
    latest/last events get it with weight `recency`; every other question with the smaller `recency_prior`
    (news questions asked as of a date are mostly about the newest reports: realtimeqa gold Hit@5 0.718 -> 0.765
    with the prior, measured in bench/RESULTS.md); a period the question names outweighs both."""

    # Dense and keyword lists weigh the same; keyword search leaves out chunks in other languages than the
    # question's (sample_qa gold Hit@1 0.794 plain RRF -> 0.853 language-aware, RESULTS 2026-11-23).
    dense: float = 1.0
    keyword: float = 1.0
    # Recency for "latest/last" questions, and the prior for all others (realtimeqa gold Hit@5 0.718 with
    # neither, 0.765 with the prior; 0.812 with the per-article cap too, RESULTS 2026-12-02, 348489c).
    recency: float = 0.5
    recency_prior: float = 0.25
    rrf_k: int = 60  # the usual RRF constant; not tuned
    recency_k: int = 10  # recency by week, not by day (realtimeqa MRR 0.479 -> 0.521, RESULTS 2026-11-23)
    recency_pool: int = 40
    recency_margin: float = 0.15
    # Articles published in a period the question names ("in October 2025", "this week"), or up to
    # `period_grace_days` after it, move up: among the best `period_pool` fused candidates whose similarity is
    # within `period_margin` of the best (wider than recency's pool: the question asked for that period;
    # realtimeqa weeks 1-3: Hit@5 0.767 -> 0.833, MRR 0.638 -> 0.701 against a pool of 10 within 0.05).
    period: float = 1.0
    period_grace_days: int = 10
    period_pool: int = 40
    period_margin: float = 0.15
    # The same searches again among the articles of the question's period (with the grace days), or, when it
    # names none, of the `recent_days` up to the as-of date, fused as extra lists of these weights (see
    # Retriever.retrieve): realtimeqa gold Hit@5 0.824 -> 0.871.
    period_search: float = 1.0
    recent_search: float = 0.5
    recent_days: int = 7


def reciprocal_rank_fusion(
    lists: Sequence[tuple[float, Sequence[str]]],
    rrf_k: int,
    applies: Sequence[Callable[[str], bool] | None] | None = None,
) -> dict[str, float]:
    """{id: fused score} from (weight, ids best first) lists: the weighted mean of 1 / (rrf_k + rank) over
    the lists that apply to the id (a list that cannot contain an id, e.g. keyword search over a language the
    question is not in, is left out of its mean instead of counting as a miss). All lists apply by default."""
    ranks = [{item: rank for rank, item in enumerate(ids, start=1)} for _, ids in lists]
    candidates = dict.fromkeys(item for _, ids in lists for item in ids)
    fused: dict[str, float] = {}
    for item in candidates:
        total = weights = 0.0
        for index, (weight, _ids) in enumerate(lists):
            test = applies[index] if applies else None
            if weight <= 0 or (test is not None and not test(item)):
                continue
            weights += weight
            rank = ranks[index].get(item)
            if rank is not None:
                total += weight / (rrf_k + rank)
        if weights > 0 and total > 0:
            fused[item] = total / weights
    return fused


def cap_per_article(order: Sequence[str], records: dict, cap: int, k: int,
                     close: Callable[[str], bool] = lambda i: True) -> list[str]:
    """`order` with at most `cap` chunks of one article among the first k, the rest keeping their order after.
    A chunk over the cap gives its place only to `close` candidates (about the same thing, e.g. another
    outlet's report of the story): a further chunk of the one relevant article stays ahead of unrelated ones."""
    head: list[str] = []
    deferred: list[str] = []
    seen: dict = {}
    for i in order:
        if len(head) >= k:
            break
        if not close(i):
            while deferred and len(head) < k:
                head.append(deferred.pop(0))
            if len(head) >= k:
                break
        article = records[i].metadata.get("article_id")
        if seen.get(article, 0) < cap:
            head.append(i)
            seen[article] = seen.get(article, 0) + 1
        else:
            deferred.append(i)
    head += deferred[: k - len(head)]
    taken = set(head)
    return head + [i for i in order if i not in taken]
