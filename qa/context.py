"""Context assembly after ranking: collapse syndicated copies of the same passage, and keep the prompt inside
the model's context window."""

from __future__ import annotations

import re
from typing import Mapping, Sequence

_WORD = re.compile(r"\w+", re.UNICODE)


def _shingles(text: str, size: int = 4) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + size]) for i in range(len(words) - size + 1)}


def near_duplicates(a: str, b: str, threshold: float = 0.7) -> bool:
    """Two passages that share most of their 4-word sequences (a wire story and its syndicated copy)."""
    sa, sb = _shingles(a), _shingles(b)
    if not sa or not sb:
        return False
    return len(sa & sb) / min(len(sa), len(sb)) >= threshold


def collapse_duplicates(order: Sequence[str], texts: Mapping[str, str], threshold: float = 0.7) -> list[str]:
    """`order` without ids whose text nearly repeats a better-ranked one (ids missing from `texts` are kept)."""
    kept: list[str] = []
    kept_shingles: list[set] = []
    for item in order:
        text = texts.get(item)
        if text is None:
            kept.append(item)
            continue
        shingles = _shingles(text)
        if shingles and any(len(shingles & other) / min(len(shingles), len(other)) >= threshold
                            for other in kept_shingles if other):
            continue
        kept.append(item)
        kept_shingles.append(shingles)
    return kept


def estimated_tokens(text: str) -> int:
    """A cautious token estimate for the prompt budget (~3.2 characters per token in French and English)."""
    return int(len(text) / 3.2) + 8


def fit_budget(passages: Sequence, max_tokens: int) -> list:
    """The leading passages whose text fits in `max_tokens` (at least one, even if it alone is larger)."""
    kept, used = [], 0
    for passage in passages:
        cost = estimated_tokens(passage.display_text or passage.chunk.text)
        if kept and used + cost > max_tokens:
            break
        kept.append(passage)
        used += cost
    return kept
