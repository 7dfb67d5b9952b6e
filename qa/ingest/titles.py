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
_FILE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,5}$")  # ".html", ".php", ".jpg"
_LETTER = re.compile(r"[^\W\d_]")
# A dateline opening a wire story: capitalised words (a place, an outlet) closed by a dash ("CNN —", "New York CNN
# Business —", "PARIS (Reuters) -", "BRUSSELS --"), an outlet in brackets ("(CNN)"), or an agency's name alone.
# "Breaking news -" or "Ukraine war -" are headings: a word in lower case is not part of a dateline.
_WORD = r"[^\W\d_][\w.'’&]*\s+"
_OUTLET = r"\([^)]{1,30}\)"
_DATELINE = re.compile(
    rf"^(?:{_WORD}){{0,6}}(?:{_OUTLET}\s*)?(?:[—–]|--?)$|^{_OUTLET}$|^(?:AP|AFP|Reuters|Associated Press)$"
)
# The same dateline opening a longer line, with its outlet in brackets: "WASHINGTON (AP) — The Senate voted…" (an
# em or en dash, or "--"; without the brackets "The Senate — after weeks — voted" would lose its subject).
_DATELINE_PREFIX = re.compile(rf"^(?:{_WORD}){{0,4}}{_OUTLET}\s*(?:[—–]|--)\s+(?=\S)")
_HEADING_MAX = 140
_SLUG_MAX = 100
_SENTENCE_CUT = 90


def slug_title(url: str | None) -> str | None:
    """The words of the URL path's most descriptive segment (the one with the most words, at least three; the
    later one on a tie), numbers and ids left out, at most ~100 characters; None when no segment reads as words.
    Known limits: numbers are dropped with the ids ("covid-19-cases" reads "Covid cases"), a section name can
    win when the story's own segment is an id ("/news/world-us-canada-12345678"), acronyms come out in lower
    case."""
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
        stem = _FILE_SUFFIX.sub("", unquote(segment))
        words = [w for w in re.split(r"[-_+\s]+", stem) if _LETTER.search(w) and len(w) <= 24]
        # Ids such as "h_c164ac931cc84141..." or "a3f9e2" are letters and digits mixed: not words.
        words = [w for w in words if not (any(c.isdigit() for c in w) and len(w) > 4)]
        if len(words) >= _MIN_SLUG_WORDS and len(words) >= len(best):
            best = words
    if not best:
        return None
    title = " ".join(best)
    if len(title) > _SLUG_MAX:
        title = title[:_SLUG_MAX].rsplit(" ", 1)[0]
    first = title[0].upper()
    return (first if len(first) == 1 else title[0]) + title[1:]


def _lines(text: str) -> list[str]:
    """Non-empty lines, Markdown heading marks taken off ("###" alone is no line)."""
    lines = (line.strip().lstrip("#").strip() for line in text.strip().split("\n"))
    return [line for line in lines if line]


def is_dateline(line: str) -> bool:
    """A dateline, where every word is capitalised: "Washington CNN —", "PARIS (Reuters) -", "(CNN)"."""
    line = line.strip()
    if not _DATELINE.match(line):
        return False
    return _capitalised(line)


def _capitalised(text: str) -> bool:
    """Every word outside brackets starts with a capital letter."""
    words = re.findall(r"[^\W\d_][\w'’]*", re.sub(r"\([^)]*\)", " ", text))
    return all(w[0].isupper() for w in words)


def first_line_title(text: str) -> str:
    """The first line that is not a dateline, whole when it reads like a heading (short, no closing
    punctuation), else cut to its first ~90 characters."""
    lines = _lines(text)
    first = next((line for line in lines if not is_dateline(line)), lines[0] if lines else "")
    prefix = _DATELINE_PREFIX.match(first)
    if prefix and _capitalised(prefix.group(0)):
        first = first[prefix.end():]
    if 0 < len(first) <= _HEADING_MAX and not first.endswith((".", "!", "?", "»", '"')):
        return first
    if len(first) <= _SENTENCE_CUT:
        return first
    return first[:_SENTENCE_CUT].rsplit(" ", 1)[0] + "…"


def guess_title(text: str, url: str | None = None) -> str:
    """A title for an untitled article: its URL's slug, else its first line (see the module's docstring)."""
    return slug_title(url) or first_line_title(text)
