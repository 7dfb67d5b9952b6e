"""A title for an article that arrives without one.

The title is more than a label: the encoder reads every chunk as "title: ... | text: ...", BM25 indexes it with
the chunk, and the prompt shows it next to each passage. So a poor guess costs retrieval. In order:

1. the words of the URL's slug ("/2022/07/26/us/california-oak-fire-yosemite-mariposa-county/index.html" ->
   "California oak fire yosemite mariposa county"): news sites write the story's subject there;
2. the first line, when it reads like a heading, passing over datelines ("Washington CNN —", "AP");
3. the start of the first sentence.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# A slug needs this many words to name a subject ("live-news" and "index" do not).
_MIN_SLUG_WORDS = 3
_PAGE_SUFFIX = re.compile(r"\.(?:s?html?|php|aspx?|jsp)$", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
# A dateline opening a wire story: a few words closed by a dash ("CNN —", "New York CNN Business —",
# "PARIS (Reuters) -"), or an agency's name alone on its line.
_DATELINE = re.compile(r"^(?:[^\s.!?]+\s+){0,6}(?:\([^)]{1,30}\)\s*)?[—–-]$|^(?:AP|AFP|Reuters|Associated Press)$")
_HEADING_MAX = 140
_SENTENCE_CUT = 90


def slug_title(url: str | None) -> str | None:
    """The words of the URL path's most descriptive segment (the one with the most words, at least three; the
    later one on a tie), numbers and ids left out; None when no segment reads as words."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None  # a "url" field holding something else
    path = parts.path
    best: list[str] = []
    for segment in path.split("/"):
        stem = _PAGE_SUFFIX.sub("", unquote(segment))
        words = [w for w in re.split(r"[-_+\s]+", stem) if _LETTER.search(w) and len(w) <= 24]
        # Ids such as "h_c164ac931cc84141..." or "a3f9e2" are letters and digits mixed: not words.
        words = [w for w in words if not (any(c.isdigit() for c in w) and len(w) > 4)]
        if len(words) >= _MIN_SLUG_WORDS and len(words) >= len(best):
            best = words
    if not best:
        return None
    title = " ".join(best)
    return title[0].upper() + title[1:]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n") if line.strip()]


def is_dateline(line: str) -> bool:
    return bool(_DATELINE.match(line.strip()))


def first_line_title(text: str) -> str:
    """The first line that is not a dateline, whole when it reads like a heading (short, no closing
    punctuation), else cut to its first ~90 characters."""
    lines = _lines(text)
    first = next((line for line in lines if not is_dateline(line)), lines[0] if lines else "")
    first = first.lstrip("# ").strip()
    if 0 < len(first) <= _HEADING_MAX and not first.endswith((".", "!", "?", "»", '"')):
        return first
    if len(first) <= _SENTENCE_CUT:
        return first
    return first[:_SENTENCE_CUT].rsplit(" ", 1)[0] + "…"


def guess_title(text: str, url: str | None = None) -> str:
    """A title for an untitled article: its URL's slug, else its first line (see the module's docstring)."""
    return slug_title(url) or first_line_title(text)
