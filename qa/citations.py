"""Citations are checked, not trusted: parse `[n]`, drop numbers never given, find each supporting sentence."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Callable, Sequence

from qa.prompting import NOT_FOUND_MARKER
from qa.types import Citation, Passage

_CITE = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")
_SENTENCE = re.compile(r"(?<=[.!?»])\s+(?=[\"«(\[]?[A-ZÀ-Ý0-9])")
_WORD = re.compile(r"\w+", re.UNICODE)
_ABSTAIN = re.compile(
    NOT_FOUND_MARKER.replace(" ", r"\s+")
    + r"|\b(passages|articles|context)\s+(do|does)\s+not\s+(contain|mention|say|provide|include)"
    + r"|\bnot\s+(mentioned|stated|found)\s+in\s+the\s+(passages|articles|context)",
    re.IGNORECASE,
)

# (claim, candidate sentences) -> one score per sentence, higher is better support.
SentenceScorer = Callable[[str, Sequence[str]], list[float]]


def is_abstention(text: str) -> bool:
    """True when the model said the passages lack the answer (the marker or a plain-words equivalent)."""
    return not text.strip() or bool(_ABSTAIN.search(text))


def parse_citations(text: str, n_passages: int) -> tuple[str, list[int], list[int]]:
    """Return (text with invalid markers removed, valid numbers in first-seen order, dropped numbers)."""
    valid: list[int] = []
    dropped: list[int] = []

    def keep(match: re.Match) -> str:
        numbers = [int(x) for x in re.split(r"[,;]", match.group(1))]
        good = [n for n in numbers if 1 <= n <= n_passages]
        for n in numbers:
            target = valid if n in good else dropped
            if n not in target:
                target.append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(good))

    cleaned = _CITE.sub(keep, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()
    return cleaned, valid, dropped


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def lexical_scorer(claim: str, sentences: Sequence[str]) -> list[float]:
    """Share of the claim's words (accents folded) found in each sentence, numbers counted double."""
    words = {w for w in _WORD.findall(_fold(claim)) if len(w) > 2 or w.isdigit()}
    if not words:
        return [0.0] * len(sentences)
    scores = []
    for sentence in sentences:
        found = set(_WORD.findall(_fold(sentence)))
        score = sum(2.0 if w.isdigit() else 1.0 for w in words & found)
        scores.append(score / (len(words) + 1))
    return scores


def embedding_scorer(embeddings) -> SentenceScorer:
    """Cosine similarity with a multilingual embedding model, plus the lexical score (for dates and names)."""

    def score(claim: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        q = embeddings.embed_query(claim)
        docs = embeddings.embed_documents(list(sentences))
        lexical = lexical_scorer(claim, sentences)
        out = []
        for d, lex in zip(docs, lexical):
            dot = sum(a * b for a, b in zip(q, d))
            norm = math.sqrt(sum(a * a for a in q)) * math.sqrt(sum(b * b for b in d)) or 1.0
            out.append(dot / norm + 0.5 * lex)
        return out

    return score


def claims_for(text: str, n: int) -> str:
    """The sentences of the answer that carry marker [n] (the whole answer when none does)."""
    sentences = split_sentences(text) or [text]
    marked = [s for s in sentences if f"[{n}]" in s]
    return _CITE.sub("", " ".join(marked or sentences)).strip()


def build_citations(
    text: str, numbers: Sequence[int], passages: Sequence[Passage], scorer: SentenceScorer = lexical_scorer
) -> list[Citation]:
    """One Citation per valid number, with the passage sentence that best supports its claim."""
    by_n = {p.n: p for p in passages}
    citations = []
    for n in numbers:
        passage = by_n[n]
        # Sentences of the date-annotated text, so "October 2025" in a claim matches "octobre (= October 2025)".
        shown = split_sentences(passage.display_text or passage.chunk.text)
        raw = split_sentences(passage.chunk.text)
        candidates = shown if len(shown) == len(raw) else raw
        quote = ""
        if candidates:
            scores = scorer(claims_for(text, n), candidates)
            best = max(range(len(candidates)), key=lambda i: scores[i])
            quote = raw[best] if len(raw) == len(candidates) else candidates[best]
        citations.append(Citation(n=n, passage=passage, quote=quote))
    return citations
