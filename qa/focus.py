"""Passage focus: each passage cut down to the sentences closest to the question before the LLM reads it.

Prompt processing is most of an answer's time on a CPU (~90 tokens/s for the default 1.5B model on 2 cores),
and the passages are most of the prompt. A passage longer than the budget keeps its best sentences by the
chain's sentence scorer (the embedding scorer across languages, the same one that verifies citations, so the
sentence vectors it computes here are reused there), in their order in the article; "…" marks what was left
out. The headline and date stay in the passage header.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from qa.citations import SentenceScorer, shown_sentences
from qa.types import Passage

GAP = " … "


def _sentences(text: str, max_chars: int) -> list[str]:
    """The sentences to choose among (split as citation checking splits the shown text, so the sentence
    vectors computed here are the ones it looks up); none when the text is left whole."""
    if max_chars <= 0 or len(text) <= max_chars:
        return []
    pieces = shown_sentences(text)
    return pieces if len(pieces) > 1 else []


def _cut(text: str, pieces: list[str], scores: Sequence[float], max_chars: int) -> str:
    """The sentence closest to the question (however long), the first sentence, and the next closest ones
    while they fit (none that scores 0), put back in their order with "…" where sentences were left out."""
    stripped = text.strip()
    # A neighbour's text clipped to a fragment ("…the minister said.") is no lede, and keeps its mark.
    cut_start, cut_end = stripped.startswith("…"), stripped.endswith("…")
    lede = 1 if cut_start else 0
    chosen: set[int] = set()
    used = 0
    best = max(range(len(pieces)), key=lambda j: (scores[j], -j))
    # After the best sentence comes the passage's first one: the sentence most like the question often only
    # restates it ("a 7.0-magnitude quake hit northern Luzon"), while the answer ("the northern Philippines")
    # sits in the lede or the sentence that opens the chunk (bench/RESULTS.md, eighth session).
    for i in [best, lede] + sorted(range(len(pieces)), key=lambda j: (-scores[j], j)):
        if i in chosen:
            continue
        cost = len(pieces[i]) + len(GAP)
        if chosen and ((scores[i] <= 0 and i != lede) or used + cost > max_chars):
            continue  # nothing in common with the question; or too long, and a shorter one may still fit
        chosen.add(i)
        used += cost
    out, last = "", -1
    for i in sorted(chosen):
        if i != last + 1 or (i == 0 and cut_start):
            out += GAP.lstrip() if not out else GAP
        elif out:
            out += " "
        out += pieces[i]
        last = i
    if last != len(pieces) - 1 or cut_end:
        out += GAP.rstrip()
    return out


def focus_text(question: str, text: str, scorer: SentenceScorer, max_chars: int) -> str:
    """`text` itself when it fits in `max_chars` (or is one sentence); else its sentences chosen as `_cut`
    says."""
    pieces = _sentences(text, max_chars)
    return _cut(text, pieces, scorer(question, pieces), max_chars) if pieces else text


def focus_passages(question: str, passages: Sequence[Passage], scorer: SentenceScorer,
                   max_chars: int) -> list[Passage]:
    """The passages with their shown text focused (`display_text`; the chunk itself is unchanged). Every
    sentence to be scored goes to the scorer in one call (an embedding scorer encodes them as one batch)."""
    texts = [p.display_text or p.chunk.text for p in passages]
    pieces = [_sentences(text, max_chars) for text in texts]
    scores = scorer(question, [piece for each in pieces for piece in each]) if any(pieces) else []
    out, start = [], 0
    for passage, text, each in zip(passages, texts, pieces):
        if each:
            text = _cut(text, each, scores[start:start + len(each)], max_chars)
            start += len(each)
        out.append(dataclasses.replace(passage, display_text=text) if each else passage)
    return out
