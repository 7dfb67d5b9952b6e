"""How sure the model was of its reply, read from its token log-probabilities.

The LLM reports them in OpenAI's shape (`response_metadata["logprobs"]["content"]`: per generated token, its
text, log-probability and the likeliest alternatives); the local runtime and OpenAI-compatible servers both do.
A model that reports none gives no signals, and nothing here changes the answer then.

Signals:
- `abstain_p`: the probability mass, at the first token, of starting the NOT IN ARTICLES marker: how close the
  model came to saying the passages lack the answer.
- `answer_min`: the lowest log-probability among the reply's tokens before its first citation marker (the
  answer's own words, where an invented name or number shows as an unlikely token).
- `answer_mean`: the mean log-probability of those tokens.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from qa.answer.prompt import NOT_FOUND_MARKER


def token_entries(metadata: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The per-token entries of a message's response metadata (empty when the model reported none)."""
    logprobs = (metadata or {}).get("logprobs") or {}
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    return [e for e in content or [] if isinstance(e, Mapping) and "logprob" in e]


def _starts_marker(token: str) -> bool:
    piece = token.strip()
    return bool(piece) and piece.upper() == piece and NOT_FOUND_MARKER.startswith(piece)


def abstain_mass(first: Mapping[str, Any]) -> float:
    """Probability, at the first token, of the tokens that begin the abstention marker ("NOT", "N")."""
    alternatives: Iterable[Mapping[str, Any]] = first.get("top_logprobs") or [first]
    seen: dict[str, float] = {}
    for alt in [first, *alternatives]:
        seen.setdefault(str(alt.get("token", "")), float(alt.get("logprob", -math.inf)))
    return sum(math.exp(lp) for token, lp in seen.items() if _starts_marker(token))


def signals(entries: list[dict[str, Any]]) -> dict[str, float]:
    """`abstain_p`, `answer_min` and `answer_mean` of a reply's token entries (see the module's docstring)."""
    if not entries:
        return {}
    out = {"abstain_p": abstain_mass(entries[0])}
    words: list[float] = []
    for entry in entries:
        if "[" in str(entry.get("token", "")):
            break
        words.append(float(entry["logprob"]))
    if words:
        out["answer_min"] = min(words)
        out["answer_mean"] = sum(words) / len(words)
    return out
