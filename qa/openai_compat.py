"""newsqa as an OpenAI-compatible chat model: `GET /v1/models` and `POST /v1/chat/completions` on `newsqa serve`,
for chat front ends and SDKs that speak the OpenAI API (Open WebUI, LibreChat, the `openai` package).

The last user message is the question; the user and assistant turns before it are the conversation, so a
follow-up works as on the chat page. The reply is the checked answer: its text keeps its `[n]` markers and ends
with a numbered source list, and the citations also come as structured data in the extra top-level field
`citations` (whole reply) or on the last chunk (stream). A stream sends the role at once and the answer once it
is checked (a citation is only sent after the code has checked it), then the finish reason and usage.
Sampling parameters (temperature, top_p, max_tokens, stop, seed, …) are accepted and ignored: the answer is the
service's. What cannot be honoured (n > 1, tools, a JSON response format) is a 400 in OpenAI's error shape;
newsqa's own errors keep their statuses (409 empty index, 502/503/504 model servers) in that shape too.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable, Iterator

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import BaseModel, ConfigDict, Field

from qa.errors import InputError, NewsQAError
from qa.types import Answer

MODEL_ID = "newsqa"
MAX_MESSAGES = 100


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(description="system, developer, user, assistant or tool")
    content: str | list[dict[str, Any]] | None = Field(
        default=None, description="text, or a list of parts of which the text parts are read")


class ChatRequest(BaseModel):
    """OpenAI's chat-completion request. Fields not listed are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(default=MODEL_ID, description="any name: newsqa serves one model")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    n: int | None = Field(default=None, description="only 1 is supported")
    tools: list[dict[str, Any]] | None = Field(default=None, description="not supported")
    response_format: dict[str, Any] | None = Field(default=None, description="only {'type': 'text'}")
    as_of: str | None = Field(default=None, description="newsqa's extension: YYYY-MM-DD; later articles are not used")


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """OpenAI's error shape, which OpenAI clients read."""

    error: ErrorDetail


class OpenAIError(Exception):
    """A request this endpoint refuses, answered in OpenAI's error shape."""

    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, list):
        return "\n".join(str(p.get("text", "")) for p in message.content if p.get("type") in ("text", None))
    return message.content or ""


def conversation(request: ChatRequest) -> tuple[str, list[dict[str, str]]]:
    """(the question, the earlier user/assistant turns) of a chat request, or an OpenAIError."""
    if request.n not in (None, 1):
        raise OpenAIError(400, "newsqa writes one answer per request: n must be 1", "n")
    if request.tools:
        raise OpenAIError(400, "newsqa does not call tools: leave `tools` out", "tools")
    if request.response_format and request.response_format.get("type", "text") != "text":
        raise OpenAIError(400, "newsqa answers in text: response_format must be {'type': 'text'}", "response_format")
    turns = [(m.role, _text(m).strip()) for m in request.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise OpenAIError(400, "the last message must be the user's question", "messages")
    question = turns[-1][1]
    if not question:
        raise OpenAIError(400, "the question (the last user message) is empty", "messages")
    return question, [{"role": role, "content": text} for role, text in turns[:-1] if text]


def sources_text(answer: Answer) -> str:
    """The numbered source list that ends a reply."""
    if not answer.citations:
        return ""
    lines = []
    for c in answer.citations:
        chunk = c.passage.chunk
        when = chunk.published.isoformat() if chunk.published else "undated"
        lines.append(f"[{c.n}] {chunk.title or chunk.source} ({when}) {chunk.url or chunk.source}")
    return "\n\nSources:\n" + "\n".join(lines)


def citations(answer: Answer) -> list[dict[str, Any]]:
    keep = ("n", "article_id", "title", "source", "url", "published", "language", "quote")
    return [{k: v for k, v in c.to_dict().items() if k in keep} for c in answer.citations]


def _usage(answer: Answer) -> dict[str, int]:
    prompt, completion = answer.tokens.get("prompt", 0), answer.tokens.get("completion", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(answer: Answer, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": answer.text + sources_text(answer)}}],
        "usage": _usage(answer), "citations": citations(answer), "abstained": answer.abstained,
    }


def chunks(answer_of: Callable[[], Answer], model: str) -> Iterator[str]:
    """The SSE stream of one reply: the role at once, the checked answer, the finish with the citations."""
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    try:
        answer = answer_of()
    except NewsQAError as exc:
        status = getattr(exc, "status", 400)
        yield f"data: {json.dumps(error_body(str(exc), type(exc).__name__, code=str(status)))}\n\n"
        return
    yield event({"content": answer.text})
    if answer.citations:
        yield event({"content": sources_text(answer)})
    yield event({}, "stop", usage=_usage(answer), citations=citations(answer), abstained=answer.abstained)
    yield "data: [DONE]\n\n"


def add_openai_routes(app: FastAPI, service, check_token: Callable, status_of: Callable[[NewsQAError], int],
                      documented: Callable[..., dict]) -> None:
    """Mount /v1/models and /v1/chat/completions on `app`, behind the REST API's token check (`documented`: the
    REST API's OpenAPI entries for error statuses)."""

    @app.exception_handler(OpenAIError)
    async def openai_error(_request: Request, exc: OpenAIError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=error_body(exc.message, exc.kind, exc.param))

    previous = app.exception_handlers.get(RequestValidationError)
    previous_http = app.exception_handlers.get(StarletteHTTPException)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        """/v1 answers its HTTP errors (a wrong token, a body that is not JSON) in OpenAI's shape too."""
        if not request.url.path.startswith("/v1/"):
            return await previous_http(request, exc)
        kind = "authentication_error" if exc.status_code == 401 else "invalid_request_error"
        return JSONResponse(status_code=exc.status_code, content=error_body(str(exc.detail), kind),
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        if not request.url.path.startswith("/v1/"):
            return await previous(request, exc) if previous else JSONResponse(status_code=422, content={
                "detail": exc.errors()})
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return JSONResponse(status_code=400, content=error_body(
            f"{where or 'request'}: {first.get('msg', 'invalid request')}", "invalid_request_error", where))

    @app.get("/v1/models", dependencies=[Depends(check_token)], summary="The one model newsqa serves (OpenAI API)",
             responses={401: {"description": "missing or wrong bearer token (when the server has one)",
                              "model": OpenAIErrorBody}})
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "newsqa"}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(check_token)],
              summary="Answer the last user message with cited sources (OpenAI chat completions)",
              responses={200: {"description": "a chat.completion, or with stream: true its chunks as server-sent "
                                              "events", "content": {"application/json": {},
                                                                    "text/event-stream": {"schema": {}}}},
                         401: {"description": "missing or wrong bearer token (when the server has one)",
                               "model": OpenAIErrorBody},
                         400: {"description": "invalid input or a parameter newsqa cannot honour",
                               "model": OpenAIErrorBody},
                         **{code: {**entry, "model": OpenAIErrorBody}
                            for code, entry in documented(409, 503, 502, 504).items()}})
    def chat(request: ChatRequest):
        question, history = conversation(request)
        model = request.model or MODEL_ID

        def answer_of() -> Answer:
            return service.ask(question, as_of=request.as_of, history=history or None)

        def refused(exc: NewsQAError) -> JSONResponse:
            if isinstance(exc, InputError):
                return JSONResponse(status_code=400, content=error_body(str(exc), "invalid_request_error"))
            return JSONResponse(status_code=status_of(exc), content=error_body(str(exc), type(exc).__name__))

        if request.stream:
            try:
                service.validate(question, request.as_of)  # before any event: an HTTP error, not a stream
            except NewsQAError as exc:
                return refused(exc)
            return StreamingResponse(chunks(answer_of, model), media_type="text/event-stream")
        try:
            return completion(answer_of(), model)
        except NewsQAError as exc:
            return refused(exc)
