"""Context assembly after ranking: collapse syndicated copies of the same passage, widen a hit with the
neighbouring sentences that complete it, and keep the prompt inside the model's context window."""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from qa.retrieve.sentences import continues, starts_lower

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


# A sentence ends at . ! ? … or 。 (optionally followed by a closing quote or bracket) before a space.
_SENTENCE_BREAK = re.compile(r"[.!?…。][\"'”»)\]]*(\s+)")
# A passage that opens with one of these words leans on the sentence before it for its subject (en/fr/es).
_REFERRING = re.compile(
    r"^[\"“«(]*\s*(he|she|it|they|this|that|these|those|his|her|its|their|there|but|however|also|then|"
    r"il|elle|ils|elles|ce|cet|cette|ces|son|sa|ses|leurs?|mais|cependant|puis|"
    r"él|ella|ellos|ellas|este|esta|estos|estas|su|sus|pero|sin embargo)\b",
    re.IGNORECASE,
)
_ENDS_SENTENCE = re.compile(r"[.!?…。][\"'”»)\]]*\s*$")


def sentences(text: str) -> list[str]:
    """Sentence-sized pieces of `text`, line by line: a break at sentence punctuation followed by a space, except
    where the rest of the line goes on the sentence (a lower-case word, or a name after an abbreviation: "the
    U.S. Senate", "Mr. Smith"; the citation checker's rules). A line break always ends a sentence."""
    out: list[str] = []
    for line in text.split("\n"):
        first, start = len(out), 0
        for end in [m.start(1) for m in _SENTENCE_BREAK.finditer(line)] + [len(line)]:
            piece = line[start:end].strip()
            start = end
            if not piece:
                continue
            if len(out) > first and (starts_lower(piece) or continues(out[-1], piece)):
                out[-1] = f"{out[-1]} {piece}"
            else:
                out.append(piece)
    return out


def needs_before(text: str) -> bool:
    """Whether a passage starts inside a sentence or with a word that refers back (he, cette, su...)."""
    head = text.lstrip()
    return bool(head) and (head[0].islower() or head[0] in ",;:)]" or bool(_REFERRING.match(head)))


def needs_after(text: str) -> bool:
    """Whether a passage may stop inside a sentence (no sentence end at its end; `widen` checks that the next
    chunk goes on with the same sentence)."""
    return bool(text.strip()) and not _ENDS_SENTENCE.search(text)


def _shared(left: str, right: str, least: int = 8) -> int:
    """Length of the longest end of `left` that is also the start of `right` (0 below `least` characters):
    consecutive chunks share their overlap this way."""
    for size in range(min(len(left), len(right)), least - 1, -1):
        if right.startswith(left[-size:]):
            return size
    return 0


def _clip(text: str, limit: int, keep_end: bool) -> str:
    if len(text) <= limit:
        return text
    if keep_end:
        cut = text[-limit:]
        return "…" + cut[cut.find(" ") + 1:] if " " in cut else "…" + cut
    cut = text[:limit]
    return (cut[: cut.rfind(" ")] if " " in cut else cut) + "…"


def widen(text: str, before: str | None, after: str | None, sentences_each_side: int = 1,
          max_chars: int = 300) -> str:
    """`text` with the neighbouring sentences that complete it: up to n sentences of the previous chunk when the
    passage starts mid-sentence or with a referring word, and up to n of the next chunk when it stops
    mid-sentence (at most `max_chars` added on each side). Text the chunks share through overlap is not
    repeated."""
    n = sentences_each_side
    if n <= 0:
        return text
    prefix = suffix = ""
    if before and needs_before(text):
        # When the passage starts mid-sentence the last piece is that sentence's beginning: it counts as one.
        before, text = before.rstrip(), text.strip()
        taken = sentences(before[: len(before) - _shared(before, text)])[-n:]
        prefix = _clip(" ".join(taken), max_chars, keep_end=True)
    if after and needs_after(text):
        after, text = after.lstrip(), text.strip()
        material = after[_shared(text, after):].lstrip(" ")
        # Only a sentence that goes on is completed (it stops on a lower-case word or a clause mark, or the next
        # chunk goes on in lower case): a heading, list item or byline without a full stop is left as it is.
        last_word = text.split()[-1] if text.split() else ""
        if (last_word[-1:] in tuple(",;:") or last_word.isalpha() and last_word.islower() or material[:1].islower()
                or material[:1].isdigit() or material[:1] in tuple(",;:)]»”'’")):
            taken = sentences(material)[:n]
            suffix = _clip(" ".join(taken), max_chars, keep_end=False)
    glue_after = "" if suffix[:1] in tuple(",.;:!?)]'’") else " "
    return (prefix + " " if prefix else "") + text.strip() + (glue_after + suffix if suffix else "")


def estimated_tokens(text: str) -> int:
    """A cautious token estimate for the prompt budget (~3.2 characters per token in French and English)."""
    return int(len(text) / 3.2) + 8


# Each passage's line "[n] (published 2026-02-10; a title of up to 70 characters)" in the prompt.
PASSAGE_HEADER_TOKENS = 30


def fit_budget(passages: Sequence, max_tokens: int) -> list:
    """The leading passages whose text and header fit in `max_tokens` (at least one, even if it alone is
    larger)."""
    kept, used = [], 0
    for passage in passages:
        cost = estimated_tokens(passage.display_text or passage.chunk.text) + PASSAGE_HEADER_TOKENS
        if kept and used + cost > max_tokens:
            break
        kept.append(passage)
        used += cost
    return kept
