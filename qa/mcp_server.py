"""newsqa as an MCP server (the official `mcp` SDK): `newsqa mcp` over stdio, and the streamable-HTTP transport
mounted at /mcp on `newsqa serve`, both over the same QAService as the REST API.

Tools: `ask` (the checked answer, with its citations as structured content), `search` (passages with ids,
titles, dates and scores, for clients that answer themselves), `list_articles` (paged) and `ingest` (off unless
the `mcp_ingest` setting allows it). Resource: `newsqa://articles/{article_id}`, an article's text. Input is
checked with the REST API's limits; a refused input or a failure is a tool error whose text names the problem.
"""

from __future__ import annotations

import functools
import json
import secrets
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import anyio
from mcp_types import CallToolResult, TextContent

from qa.errors import InputError, NewsQAError
from qa.service import MAX_OPTIONS

MAX_K = 50
MAX_PAGE = 200
INSTRUCTIONS = ("Answers questions about the news articles in this newsqa index, citing the passages it rests on, "
                "and says so when the articles do not hold the answer. Use `ask` for an answer, `search` for "
                "passages to read yourself, `list_articles` to see what the index holds.")


def _result(text: str, data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be between 1 and {MAX_K}, got {k}")
    return k


def _check_day(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise InputError(f"{name} must be a date written YYYY-MM-DD, got {value!r}") from exc


def _named(fn):
    """A tool or resource whose newsqa errors reach the client as tool errors with their message (the SDK hides
    the message of any other exception)."""
    from mcp.server.mcpserver.exceptions import ResourceError, ToolError

    kind = ResourceError if fn.__name__ == "article" else ToolError

    @functools.wraps(fn)
    async def run(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except NewsQAError as exc:
            raise kind(str(exc)) from exc
    return run


def build_mcp(service, *, allow_ingest: bool | None = None, write_lock=None):
    """The MCP server over `service` (allow_ingest: None reads the `mcp_ingest` setting; write_lock: the lock the
    server's other writers take)."""
    from contextlib import nullcontext

    from mcp.server.mcpserver import MCPServer

    from qa.openai_compat import citations, sources_text

    writes = service.settings.mcp_ingest if allow_ingest is None else allow_ingest
    server = MCPServer("newsqa", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(description="Answer a question from the indexed news articles, with cited sources; says so "
                             "when the articles do not hold the answer. as_of (YYYY-MM-DD): later articles are not "
                             "used. options: possible answers, of which the reply names the one the passages "
                             f"support (at most {MAX_OPTIONS}).")
    @_named
    async def ask(question: str, as_of: str | None = None, options: list[str] | None = None) -> CallToolResult:
        answer = await anyio.to_thread.run_sync(lambda: service.ask(question, as_of=as_of, options=options))
        data = {"answer": answer.text, "abstained": answer.abstained, "citations": citations(answer),
                "as_of": answer.as_of.isoformat() if answer.as_of else None}
        return _result(answer.text + sources_text(answer), data)

    @server.tool(description="Search the indexed articles for passages about a query (best first), without "
                             "writing an answer: for clients that answer themselves. k: how many (1-50). as_of / "
                             "since (YYYY-MM-DD): only articles published up to / from that day. sources: only "
                             "these sources (file paths or URLs as listed by list_articles).")
    @_named
    async def search(query: str, k: int = 5, as_of: str | None = None, since: str | None = None,
                     sources: list[str] | None = None) -> CallToolResult:
        from qa.retrieve.dates import parse_as_of
        from qa.retrieve.scope import Filters
        from qa.service import check_question

        text = check_question(query)
        limit, when = _check_k(k), parse_as_of(_check_day("as_of", as_of))
        filters = Filters.from_dict({"date_from": _check_day("since", since), "sources": list(sources or [])})
        service.validate(text)
        passages = await anyio.to_thread.run_sync(
            lambda: service.chain.retriever.retrieve(text, when, limit, filters))
        rows = [{"n": p.n, "id": p.chunk.chunk_id, "article_id": p.chunk.article_id, "title": p.chunk.title,
                 "published": p.chunk.published.isoformat() if p.chunk.published else None,
                 "source": p.chunk.source, "url": p.chunk.url, "language": p.chunk.language,
                 "score": round(float(p.score), 4), "text": p.chunk.text} for p in passages]
        lines = [f"[{r['n']}] {r['title']} ({r['published'] or 'undated'}, score {r['score']}) {r['id']}\n"
                 f"{r['text']}" for r in rows]
        return _result("\n\n".join(lines) or "No passage found.", {"passages": rows})

    @server.tool(description="The articles in the index, newest first, a page at a time (offset, limit 1-200), "
                             "with the total count.")
    @_named
    async def list_articles(offset: int = 0, limit: int = 50) -> CallToolResult:
        if offset < 0 or not 1 <= limit <= MAX_PAGE:
            raise InputError(f"offset must be 0 or more and limit between 1 and {MAX_PAGE}")
        rows = await anyio.to_thread.run_sync(service.articles)
        page = rows[offset:offset + limit]
        data = {"total": len(rows), "offset": offset, "articles": page}
        return _result(json.dumps(data, ensure_ascii=False), data)

    @server.tool(description="Add local files or folders of articles to the index (allowed only when the server "
                             "was started with writes on: `newsqa mcp --allow-ingest` or NEWSQA_MCP_INGEST=true).")
    @_named
    async def ingest(paths_or_urls: list[str]) -> CallToolResult:
        if not writes:
            raise InputError("ingest is off on this server: start it with `newsqa mcp --allow-ingest` or set "
                             "NEWSQA_MCP_INGEST=true to let MCP clients add articles")
        if not paths_or_urls:
            raise InputError("give at least one file or folder")
        urls = [p for p in paths_or_urls if "://" in p]
        if urls:
            raise InputError(f"only local files and folders can be ingested, not {urls[0]!r}")
        missing = [p for p in paths_or_urls if not Path(p).exists()]
        if missing:
            raise InputError(f"no such file or folder: {missing[0]}")
        def run_ingest():
            with write_lock or nullcontext():
                return service.ingest(paths_or_urls)

        report = await anyio.to_thread.run_sync(run_ingest)
        data = report.to_dict()
        return _result(report.summary(), data)

    @server.resource("newsqa://articles/{article_id}", name="article", mime_type="text/plain",
                     description="The text of one article of the index, by its id (see list_articles).")
    @_named
    async def article(article_id: str) -> str:
        found = await anyio.to_thread.run_sync(service.article, article_id)
        if found is None:
            raise InputError(f"no article with id {article_id!r}")
        return found["text"]

    return server


def bearer_guard(app, token: str | None):
    """`app` behind the REST API's bearer token (none: open, as the REST API on loopback)."""
    if not token:
        return app

    expected = token.encode("utf-8")

    async def guarded(scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer" or not secrets.compare_digest(given.strip(), expected):
                body = json.dumps({"detail": "missing or wrong bearer token"}).encode()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def mount_mcp(app, service, *, token: str | None, write_lock=None) -> None:
    """Mount the streamable-HTTP transport at /mcp on the FastAPI `app`, with the same token rule as /api, and run
    its session manager in the app's lifespan. With a token (required beyond loopback) any Host is accepted;
    without one only loopback hosts are (the SDK's DNS-rebinding protection). The `ingest` tool is off over HTTP
    whatever the setting: it reads files on the server's disk, which a remote client could then read back; it is
    for `newsqa mcp --allow-ingest` over stdio, where the client runs as the user."""
    from mcp.server.transport_security import TransportSecuritySettings

    server = build_mcp(service, allow_ingest=False, write_lock=write_lock)
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False) if token else None
    asgi = server.streamable_http_app(streamable_http_path="/", stateless_http=True, json_response=True,
                                      transport_security=security)
    app.mount("/mcp", bearer_guard(asgi, token))
    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        async with server.session_manager.run():
            async with outer(a) as state:
                yield state

    app.router.lifespan_context = lifespan
