"""HTML and Markdown for answers and their sources. Pure functions over Answer: no Gradio here."""

from __future__ import annotations

import html
import re

from qa.types import Answer, Passage, Retrieved

_CITE = re.compile(r"\[(\d+)\]")


def answer_markdown(answer: Answer) -> str:
    """The answer with each [n] turned into a link to its source card in the sources panel."""
    if answer.abstained:
        return f"_{answer.text}_"
    return _CITE.sub(lambda m: f"[\\[{m.group(1)}\\]](#src-{m.group(1)})", answer.text)


def _highlight(text: str, quote: str) -> str:
    escaped = html.escape(text)
    if quote:
        q = html.escape(quote)
        if q in escaped:
            return escaped.replace(q, f"<mark>{q}</mark>", 1)
    return escaped


def _meta(p: Passage) -> str:
    c = p.chunk
    src = html.escape(c.url or c.source)
    # Only web addresses become links: a record's url could be "javascript:…"
    linkable = bool(c.url) and c.url.lower().startswith(("http://", "https://"))
    link = f'<a href="{src}" target="_blank" rel="noopener">{src}</a>' if linkable else f"<code>{src}</code>"
    when = c.published.isoformat() if c.published else "undated"
    return f'{link} · {when} · <span class="lang">{html.escape(c.language or "?")}</span>'


def _card(p: Passage, quote: str = "", label: str | None = None) -> str:
    c = p.chunk
    return (
        f'<div class="newsqa-src" id="src-{p.n}">'
        f'<div class="newsqa-src-head"><b>[{label or p.n}] {html.escape(c.title)}</b></div>'
        f'<div class="newsqa-src-meta">{_meta(p)}</div>'
        f'<p class="newsqa-src-text">{_highlight(c.text, quote)}</p></div>'
    )


def reading_html(retrieved: Retrieved) -> str:
    """The passages the model is reading, shown while it reads them (seconds on a CPU): a line each with its
    number, title, source and date. The finished answer's sources replace it."""
    count = len(retrieved.passages)
    items = "".join(f"<li>[{p.n}] <b>{html.escape(p.chunk.title)}</b> · {_meta(p)}</li>" for p in retrieved.passages)
    return (f'<p class="newsqa-reading">Reading {count} passage{"" if count == 1 else "s"}…</p>'
            f'<ul class="newsqa-reading-list">{items}</ul>')


def sources_html(answer: Answer) -> str:
    """Cited passages with the supporting sentence highlighted; the other retrieved passages collapsed."""
    parts = []
    cited = {c.n for c in answer.citations}
    if answer.abstained:
        parts.append('<p class="newsqa-abstain"><b>No answer in the articles.</b> The closest passages:</p>')
        parts.extend(_card(p) for p in answer.passages[:3])
    else:
        parts.append("<h4>Sources</h4>")
        parts.extend(_card(c.passage, c.quote) for c in answer.citations)
        rest = [p for p in answer.passages if p.n not in cited]
        if rest:
            inner = "".join(_card(p) for p in rest)
            parts.append(f"<details><summary>{len(rest)} more retrieved passages, not cited</summary>{inner}</details>")
    return "\n".join(parts)


CSS = """
.newsqa-src { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 10px; margin: 8px 0; }
.newsqa-src-meta { font-size: 0.85em; color: #57606a; margin: 2px 0 6px; }
.newsqa-src mark { background: #fff3b0; }
.newsqa-abstain { color: #9a6700; }
.newsqa-reading { color: #57606a; }
.newsqa-reading-list { font-size: 0.9em; }
"""
