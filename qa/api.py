"""The REST API over a QAService (FastAPI). `create_api(service)` builds the app; nothing runs at import.

Errors are translated once here: bad input -> 422 naming the field, no index yet -> 409, missing model -> 503,
a failing model server -> 502 (503 unreachable, 504 timed out), a wrong or missing bearer token -> 401.
"""

from __future__ import annotations

import json
import re
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from qa.errors import IndexMissingError, InputError, ModelError, NewsQAError, ServerError
from qa.ingest.watch import FeedWatcher, poll_in_background
from qa.mcp_server import mount_mcp
from qa.openai_compat import add_openai_routes
from qa.service import MAX_OPTIONS
from qa.types import Retrieved

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class Turn(BaseModel):
    role: str = Field(pattern="^(user|assistant)$")
    content: str


class AskFilters(BaseModel):
    date_from: str | None = Field(default=None, description="YYYY-MM-DD: only articles published on or after")
    date_to: str | None = Field(default=None, description="YYYY-MM-DD: only articles published on or before")
    sources: list[str] = Field(default_factory=list, description="only these sources (file path or url)")
    languages: list[str] = Field(default_factory=list, description="only these languages (ISO 639-1)")


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=1000)
    as_of: str | None = Field(default=None, description="YYYY-MM-DD; later articles are not used")
    k: int | None = Field(default=None, ge=1, le=50)
    filters: AskFilters | None = None
    history: list[Turn] = Field(default_factory=list, description="earlier turns, for follow-up questions")
    options: list[str] = Field(default_factory=list, max_length=MAX_OPTIONS,
                               description="possible answers: the reply names the one the passages support")


class Record(BaseModel):
    id: str | None = None
    title: str | None = None
    text: str = Field(min_length=1)
    published: str | None = None
    url: str | None = None
    source: str | None = None
    language: str | None = None


class IngestRecords(BaseModel):
    records: list[Record] = Field(min_length=1)


class FeedRequest(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="the http(s) address of an RSS or Atom feed")


class IngestUrls(BaseModel):
    urls: list[str] = Field(min_length=1, max_length=100,
                            description="http(s) addresses of article pages or RSS/Atom feeds")


def safe_filename(name: str) -> str:
    """An uploaded file's name with any folder part and unusual characters removed (no path traversal)."""
    base = Path(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^\w.\- ]", "_", base).strip(" .")
    return cleaned[:120] or "upload.txt"


class ErrorBody(BaseModel):
    detail: str = Field(description="what went wrong and how to fix it")
    error: str | None = Field(default=None, description="the error's name, e.g. IndexMissingError, ServerTimeout")


_MEANING = {
    400: "a setting that cannot work (e.g. an index built with another embedding model)",
    401: "missing or wrong bearer token (when the server has one)",
    404: "no article with that id",
    409: "the index holds no articles yet: ingest first",
    413: "an uploaded file is larger than 20 MB",
    422: "invalid input: the message names the field",
    502: "a model server behind newsqa failed (refused key, unknown model, error, malformed or cut reply)",
    503: "a model is missing or cannot be loaded, or a model server cannot be reached",
    504: "a model server did not answer in time",
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer (FastAPI adds 422's own schema)."""
    return {code: ({"description": _MEANING[code]} if code == 422 else
                   {"description": _MEANING[code], "model": ErrorBody}) for code in codes}


# The statuses of every route that reaches the index and the models.
_MODELS = (400, 401, 422, 503, 502, 504)
_SSE = {200: {"description": "server-sent events", "content": {"text/event-stream": {"schema": {}}}}}


def _status(exc: NewsQAError) -> int:
    if isinstance(exc, IndexMissingError):
        return 409
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, ModelError):
        return 503
    if isinstance(exc, ServerError):  # a model server behind newsqa failed: 502, 503 (unreachable), 504 (timeout)
        return exc.status
    return 400


def create_api(service, *, token: str | None = None, upload_dir: Path | None = None) -> FastAPI:
    """The REST API. With `token`, every /api route but /api/health needs `Authorization: Bearer <token>`."""
    app = FastAPI(title="newsqa", version="0.1.0",
                  description="Answers questions about news articles with cited passages.")
    bearer = HTTPBearer(auto_error=False)
    # The models guard themselves (the LLM runs one generation at a time, the embedder one batch at a time), so
    # questions are not serialised here; ingests and deletes are, so two writers never interleave.
    lock = threading.Lock()
    uploads = upload_dir or Path(service.settings.index_dir) / "uploads"

    def check_token(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token is None:
            return
        if creds is None or not secrets.compare_digest(creds.credentials.encode("utf-8"), token.encode("utf-8")):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(NewsQAError)
    async def newsqa_error(_request: Request, exc: NewsQAError) -> JSONResponse:
        return JSONResponse(status_code=_status(exc), content={"detail": str(exc), "error": type(exc).__name__})

    def _ask_kwargs(req: AskRequest) -> dict[str, Any]:
        return {"as_of": req.as_of, "k": req.k, "filters": req.filters.model_dump() if req.filters else None,
                "history": [t.model_dump() for t in req.history] or None, "options": req.options or None}

    @app.post("/api/ask", dependencies=[Depends(check_token)], summary="Answer a question (Answer JSON)",
              responses=documented(409, *_MODELS))
    def ask(req: AskRequest) -> dict[str, Any]:
        return service.ask(req.question, **_ask_kwargs(req)).to_dict()

    @app.post("/api/ask/stream", dependencies=[Depends(check_token)], response_class=StreamingResponse,
              summary="Answer a question as server-sent events: passages, token..., then answer (or error)",
              responses={**_SSE, **documented(409, *_MODELS)})
    def ask_stream(req: AskRequest) -> StreamingResponse:
        # a bad question or option or an empty index is an HTTP error, not an event
        service.validate(req.question, req.as_of, req.options)

        def events() -> Iterator[str]:
            try:
                for item in service.stream_events(req.question, **_ask_kwargs(req)):
                    if isinstance(item, Retrieved):  # what the model reads, before its first token
                        yield f"event: passages\ndata: {json.dumps(item.to_dict(), ensure_ascii=False)}\n\n"
                    elif isinstance(item, str):
                        yield f"event: token\ndata: {json.dumps({'text': item})}\n\n"
                    else:
                        yield f"event: answer\ndata: {json.dumps(item.to_dict(), ensure_ascii=False)}\n\n"
            except NewsQAError as exc:
                body = {"detail": str(exc), "status": _status(exc)}
                yield f"event: error\ndata: {json.dumps(body)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/api/ingest", dependencies=[Depends(check_token)], summary="Ingest uploaded files",
              responses=documented(413, *_MODELS))
    def ingest_files(files: list[UploadFile] = File(...)) -> dict[str, Any]:
        uploads.mkdir(parents=True, exist_ok=True)
        saved = []
        for upload in files:
            data = upload.file.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                raise HTTPException(413, f"{upload.filename}: larger than {MAX_UPLOAD_BYTES // 2**20} MB")
            target = uploads / safe_filename(upload.filename or "upload.txt")
            target.write_bytes(data)
            saved.append(target)
        with lock:
            return service.ingest(saved).to_dict()

    @app.post("/api/ingest/records", dependencies=[Depends(check_token)], summary="Ingest JSON article records",
              responses=documented(*_MODELS))
    def ingest_records(body: IngestRecords) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "records.jsonl"
            path.write_text("\n".join(json.dumps(r.model_dump(exclude_none=True)) for r in body.records))
            with lock:
                return service.ingest([path]).to_dict()

    @app.post("/api/ingest/urls", dependencies=[Depends(check_token)],
              summary="Ingest article pages and RSS/Atom feeds by URL", responses=documented(*_MODELS))
    def ingest_urls(body: IngestUrls) -> dict[str, Any]:
        from qa.ingest.web import is_url

        odd = [u for u in body.urls if not is_url(u)]
        if odd:
            raise InputError(f"not a URL: {odd[0]!r} (write http://… or https://…)")
        fetched = service.web_loader().preload(list(body.urls))  # the network outside the write lock
        with lock:
            return service.ingest(fetched).to_dict()

    watcher = FeedWatcher(service, Path(service.settings.index_dir) / "feeds.json",
                          every_s=service.settings.feed_interval, write_lock=lock)
    app.state.feeds = watcher

    @app.get("/api/feeds", dependencies=[Depends(check_token)], summary="Watched feeds and their last polls",
             responses=documented(*_MODELS))
    def feeds() -> dict[str, Any]:
        return {"every_s": watcher.every_s, "feeds": [f.public() for f in watcher.snapshot()]}

    @app.post("/api/feeds", dependencies=[Depends(check_token)],
              summary="Watch a feed (polled at once, then every feed_interval seconds)", responses=documented(*_MODELS))
    def add_feed(body: FeedRequest) -> dict[str, Any]:
        return watcher.add(body.url).public()

    @app.post("/api/feeds/poll", dependencies=[Depends(check_token)], summary="Poll the feeds that are due now",
              responses=documented(*_MODELS))
    def poll_feeds() -> dict[str, Any]:
        return {"polled": [f.public() for f in watcher.poll_due()]}

    @app.delete("/api/feeds", dependencies=[Depends(check_token)], summary="Stop watching a feed",
                responses=documented(404, *_MODELS))
    def delete_feed(url: str) -> dict[str, Any]:
        if not watcher.remove(url):
            raise HTTPException(404, f"no watched feed {url!r}")
        return {"url": url, "removed": True}

    @app.get("/api/articles", dependencies=[Depends(check_token)], summary="Articles in the index",
             responses=documented(*_MODELS))
    def articles() -> dict[str, Any]:
        return {"articles": service.articles(), "stats": service.stats()}

    @app.delete("/api/articles/{article_id:path}", dependencies=[Depends(check_token)],
                summary="Delete an article from the index", responses=documented(404, *_MODELS))
    def delete_article(article_id: str) -> dict[str, Any]:
        with lock:
            removed = service.delete_article(article_id)
        if removed == 0:
            raise HTTPException(404, f"no article with id {article_id!r}")
        return {"article_id": article_id, "chunks_removed": removed}

    add_openai_routes(app, service, check_token, _status, documented)
    mount_mcp(app, service, token=token, write_lock=lock)
    poll_in_background(app, watcher)

    @app.get("/api/health", summary="Models loaded, article and chunk counts",
             responses=documented(400, 422, 503, 502, 504))
    def health() -> dict[str, Any]:
        stats = service.stats()
        return {"status": "ok", "models": service.model_names(), "loaded": service.loaded(),
                "articles": stats["articles"], "chunks": stats["chunks"]}

    return app
