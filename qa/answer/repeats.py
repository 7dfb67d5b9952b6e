"""A reply's sentence said twice is kept once: the 1.5B model now and then closes a reply by repeating one."""

from __future__ import annotations

import re

from qa.answer.citations import (
    CITATION,
    LIST_MARK,
    answer_sentences,
    cited_numbers,
    fold,
)


def _repeat_key(sentence: str) -> str:
    """What a sentence says, for spotting a repeat: case and accents folded, citation markers, spacing and the
    closing punctuation left out ("It struck at noon [1]." and "it struck at noon!" say the same)."""
    return " ".join(fold(CITATION.sub(" ", sentence)).strip().rstrip(".!?;").split())


# Code, tables: repeated lines there are structure, not a model saying something twice
_STRUCTURED = re.compile(r"^\s*(?:```|~~~|\|)", re.MULTILINE)
REPEAT_MIN_WORDS = 3  # "October 2025." twice may be two answers to two parts of a question


def _line_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    line_end = text.find("\n", end)
    return text.rfind("\n", 0, start) + 1, len(text) if line_end < 0 else line_end


def drop_repeats(text: str) -> str:
    """`text` without the prose sentences that say an earlier one again (`_repeat_key`) and cite no passage it
    did not: the 1.5B model now and then closes a reply by repeating a sentence. The first one stays. Left
    alone: sentences of fewer than REPEAT_MIN_WORDS words, list items, code and tables, and any text whose
    sentences cannot all be found in it as written (their spacing was normalised)."""
    if _STRUCTURED.search(text):
        return text
    spans, cursor = [], 0
    for sentence in answer_sentences(text):
        at = text.find(sentence, cursor)
        if at < 0:
            return text
        spans.append((at, at + len(sentence), sentence))
        cursor = at + len(sentence)
    seen: dict[str, set[int]] = {}  # what each sentence says -> the passages it was cited with
    repeats = []
    for start, end, sentence in spans:
        key, cited = _repeat_key(sentence), set(cited_numbers(sentence))
        line_start, line_end = _line_bounds(text, start, end)
        in_list = bool(LIST_MARK.match(text[line_start:line_end]))
        if len(key.split()) >= REPEAT_MIN_WORDS and key in seen and cited <= seen[key] and not in_list:
            repeats.append((start, end))
        seen.setdefault(key, set()).update(cited)
    for start, end in reversed(repeats):  # from the end, so the earlier positions still hold
        line_start, line_end = _line_bounds(text, start, end)
        if not text[line_start:start].strip() and not text[end:line_end].strip():
            text = text[:line_start] + text[line_end + 1:]  # the sentence was the whole line: the line goes
        else:
            before, after = text[:start].rstrip(" "), text[end:].lstrip(" ")
            joint = " " if before and after and not before.endswith("\n") and not after.startswith("\n") else ""
            text = before + joint + after
    return text.strip() if repeats else text
