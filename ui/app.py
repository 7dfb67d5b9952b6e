"""The Gradio chat page: `build_app(service)` returns the Blocks; state is per browser session (gr.State)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Iterator

import gradio as gr

from qa.errors import NewsQAError
from qa.types import Answer, Retrieved
from ui.render import answer_markdown, reading_html, sources_html

log = logging.getLogger("newsqa.ui")


def _friendly(exc: Exception) -> str:
    if isinstance(exc, NewsQAError):
        return f"⚠️ {exc}"
    log.exception("unexpected error in the chat page")
    return f"⚠️ Something went wrong ({type(exc).__name__}). The server log has the details."


def _filters(date_from: str, sources: list[str] | None) -> dict[str, Any]:
    return {"date_from": (date_from or "").strip() or None, "sources": list(sources or [])}


def _articles_rows(service) -> list[list[Any]]:
    return [[a["article_id"], a["title"], a["published"] or "", a["language"] or "", a["source"], a["chunks"]]
            for a in service.articles()]


def _stats_md(service) -> str:
    s = service.stats()
    span = " to ".join(s["date_span"]) if s["date_span"] else "no dates"
    langs = ", ".join(f"{k}: {v}" for k, v in sorted(s["languages"].items())) or "none"
    return f"**{s['articles']} articles**, {s['chunks']} passages · languages {langs} · published {span}"


def chat_turn(service, message, chat, history, as_of, date_from, sources, k, show_rewrite) -> Iterator[tuple]:
    """One question on the chat page, as the page's successive states (chat, history, question box, sources
    panel, rewrite note): searching, then the passages being read, then the answer token by token, then the
    answer with its sources (or the error, and the question back in its box)."""
    chat = list(chat or []) + [{"role": "user", "content": message}, {"role": "assistant", "content": "…"}]
    yield chat, history, "", "<p>Searching the articles…</p>", ""
    answer: Answer | None = None
    text = ""
    try:
        for item in service.stream_events(message, as_of=(as_of or "").strip() or None, k=int(k),
                                          filters=_filters(date_from, sources), history=history or None):
            if isinstance(item, Retrieved):  # shown while the model reads them
                yield chat, history, "", reading_html(item) if item.reading else gr.skip(), gr.skip()
            elif isinstance(item, Answer):
                answer = item
            else:
                text += item
                chat[-1] = {"role": "assistant", "content": text}
                yield chat, history, "", gr.skip(), gr.skip()
    except Exception as exc:  # shown in the page, never as a stack trace
        chat[-1] = {"role": "assistant", "content": _friendly(exc)}
        yield chat, history, message, "", ""
        return
    chat[-1] = {"role": "assistant", "content": answer_markdown(answer)}
    history = list(history or []) + [{"role": "user", "content": message},
                                     {"role": "assistant", "content": answer.text}]
    rewritten = ""
    if show_rewrite and answer.standalone_question:
        rewritten = f"Searched for: *{answer.standalone_question}*"
    yield chat, history, "", sources_html(answer), rewritten


def _feed_rows(watcher) -> list[list[Any]]:
    return [[f.url, f.last_poll or "not yet", f.new, f.updated, f.failed, f.last_error or "",
             f.public()["next_poll"] or "now"] for f in watcher.snapshot()]


def build_app(service, watcher=None) -> gr.Blocks:
    """The chat page and the Articles tab over one QAService (`watcher`: the server's FeedWatcher, for the
    watched-feeds panel)."""
    sources_choices = sorted({a["source"] for a in service.articles()})

    def writing():
        """The server's write lock (its API ingests, deletes and feed polls take it too)."""
        from contextlib import nullcontext

        return watcher.write_lock if watcher is not None else nullcontext()

    def respond(message, chat, history, as_of, date_from, sources, k, show_rewrite):
        yield from chat_turn(service, message, chat, history, as_of, date_from, sources, k, show_rewrite)

    def ingest(files, progress=gr.Progress()):
        if not files:
            return [], "Choose one or more files first.", gr.skip(), gr.skip()
        rows, totals = [], {"added": 0, "unchanged": 0, "replaced": 0, "failed": 0}
        paths = [f if isinstance(f, str) else f.name for f in files]
        for path in progress.tqdm(paths, desc="Ingesting", unit="file"):
            try:
                with writing():
                    report = service.ingest([path])
            except Exception as exc:
                rows.append([path.rsplit("/", 1)[-1], "failed", 0, 0, _friendly(exc)])
                totals["failed"] += 1
                continue
            for key in totals:
                totals[key] += getattr(report, key)
            rows.extend([r.path.rsplit("/", 1)[-1] + (f":{r.line}" if r.line else ""), r.status, r.articles,
                         r.chunks, r.error or ""] for r in report.files)
        summary = ", ".join(f"{v} {k}" for k, v in totals.items())
        return rows, summary, _stats_md(service), _articles_rows(service)

    def ingest_links(text):
        from qa.ingest.web import is_url

        urls = [line.strip() for line in (text or "").splitlines() if line.strip()]
        if not urls:
            return [], "Paste one or more links (article pages or RSS/Atom feeds), one a line.", gr.skip(), gr.skip()
        odd = [u for u in urls if not is_url(u)]
        if odd:  # a path would read files on the server
            return [], f"⚠️ Not a link: {odd[0]} (write http://… or https://…).", gr.skip(), gr.skip()
        try:
            fetched = service.web_loader().preload(urls)  # the network outside the write lock
            with writing():
                report = service.ingest(fetched)
        except Exception as exc:
            return [], _friendly(exc), gr.skip(), gr.skip()
        rows = [[r.path, r.status, r.articles, r.chunks, r.error or ""] for r in report.files]
        return rows, report.summary(), _stats_md(service), _articles_rows(service)

    def watch(url):
        try:
            state = watcher.add((url or "").strip())
            watcher.poll(state.url)
        except Exception as exc:
            return _friendly(exc), _feed_rows(watcher), gr.skip(), gr.skip()
        return f"Watching {state.url}.", _feed_rows(watcher), _stats_md(service), _articles_rows(service)

    def poll_now():
        for url in list(watcher.feeds):
            watcher.poll(url)
        return _feed_rows(watcher), _stats_md(service), _articles_rows(service)

    def delete(article_id):
        article_id = (article_id or "").strip()
        if not article_id:
            return "Type the id of the article to delete.", gr.skip(), gr.skip()
        with writing():
            removed = service.delete_article(article_id)
        note = f"Deleted {article_id} ({removed} passages)." if removed else f"No article with id {article_id}."
        return note, _stats_md(service), _articles_rows(service)

    with gr.Blocks(title="newsqa") as demo:
        history = gr.State([])
        gr.Markdown("## newsqa · questions about the news, answered from the articles with sources")
        with gr.Tab("Ask"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Conversation", height=420, elem_id="chat")
                    question = gr.Textbox(label="Question", placeholder="When did Bessent last meet He Lifeng?",
                                          elem_id="question")
                    with gr.Row():
                        ask = gr.Button("Ask", variant="primary", elem_id="ask")
                        clear = gr.Button("New conversation")
                    rewritten = gr.Markdown(elem_id="rewritten")
                with gr.Column(scale=2):
                    sources_panel = gr.HTML("<p>Sources appear here.</p>", elem_id="sources")
            with gr.Accordion("Options (apply to the next question)", open=False):
                with gr.Row():
                    as_of = gr.Textbox(value=date.today().isoformat(), label="As of (YYYY-MM-DD)", elem_id="as-of")
                    date_from = gr.Textbox(label="Published from (YYYY-MM-DD, optional)")
                    k = gr.Slider(1, 12, value=service.settings.k, step=1, label="Passages")
                sources = gr.Dropdown(sources_choices, multiselect=True, label="Only these sources")
                show_rewrite = gr.Checkbox(label="Show how a follow-up question was rewritten",
                                           elem_id="show-rewrite")
            inputs = [question, chatbot, history, as_of, date_from, sources, k, show_rewrite]
            outputs = [chatbot, history, question, sources_panel, rewritten]
            ask.click(respond, inputs, outputs, api_name="ask")
            question.submit(respond, inputs, outputs, api_name=False)
            clear.click(lambda: ([], [], "<p>Sources appear here.</p>", ""), None,
                        [chatbot, history, sources_panel, rewritten], api_name=False)
        with gr.Tab("Articles"):
            stats = gr.Markdown(_stats_md(service))
            upload = gr.File(file_count="multiple", label="Upload .txt, .md, .html, .json or .jsonl files",
                             file_types=[".txt", ".md", ".html", ".htm", ".json", ".jsonl"])
            ingest_btn = gr.Button("Ingest", variant="primary")
            links = gr.Textbox(label="Or links: article pages or RSS/Atom feeds, one a line", lines=2,
                               elem_id="links")
            links_btn = gr.Button("Ingest links", elem_id="ingest-links")
            summary = gr.Markdown()
            results = gr.Dataframe(headers=["file", "status", "articles", "passages", "error"], label="Per file")
            table = gr.Dataframe(_articles_rows(service),
                                 headers=["id", "title", "published", "language", "source", "passages"],
                                 label="Articles in the index")
            with gr.Row():
                delete_id = gr.Textbox(label="Article id to delete")
                delete_btn = gr.Button("Delete", variant="stop")
            delete_note = gr.Markdown()
            if watcher is not None:
                gr.Markdown(f"### Watched feeds (polled every {watcher.every_s // 60:g} min)")
                with gr.Row():
                    feed_url = gr.Textbox(label="Feed address (RSS or Atom)", elem_id="feed-url")
                    watch_btn = gr.Button("Watch", variant="primary", elem_id="watch")
                    poll_btn = gr.Button("Poll now")
                feed_note = gr.Markdown()
                feeds = gr.Dataframe(_feed_rows(watcher), label="Feeds", headers=[
                    "feed", "last poll", "new", "updated", "failed", "last error", "next poll"])
                watch_btn.click(watch, [feed_url], [feed_note, feeds, stats, table], api_name="watch")
                poll_btn.click(poll_now, None, [feeds, stats, table], api_name="poll")
            links_btn.click(ingest_links, [links], [results, summary, stats, table], api_name="ingest_links")
            ingest_btn.click(ingest, [upload], [results, summary, stats, table], api_name="ingest",
                             show_progress="full")
            delete_btn.click(delete, [delete_id], [delete_note, stats, table], api_name="delete")
    return demo
