"""A scripted OpenAI-compatible server on a loopback port, in a thread of the test process: it answers
/v1/chat/completions (whole or streamed) and /v1/embeddings as a real server would, or fails the way servers
fail (401, 404 for an unknown model, 500, a hang, a stream cut mid-answer, malformed JSON, a context overflow),
and records every request it gets."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

FAILURES = ("401", "404", "500", "hang", "cut", "malformed", "context", "length")


class ScriptedServer:
    """`mode`: "ok" or one of FAILURES. `reply`: the chat answer's text. `embed(text)`: a vector for a text."""

    def __init__(self, *, reply: str = "October 2025 [1].", embed: Callable[[str], list[float]] | None = None,
                 model: str = "served-model", key: str | None = None, hang_s: float = 3.0) -> None:
        self.mode = "ok"
        self.reply = reply
        self.embed = embed or (lambda text: [float(len(text) % 7 + 1), 1.0, 0.5])
        self.model = model
        self.key = key
        self.hang_s = hang_s
        self.ok_first = 0  # this many requests are answered normally before `mode` applies
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str, kind: str) -> None:
                self._send(status, json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode())

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [{"id": outer.model, "object": "model"}]})
                               .encode())
                else:
                    self._error(404, "no such route", "not_found")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append({"path": self.path, **body})
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                mode = outer.mode if len(outer.requests) > outer.ok_first else "ok"
                if mode == "401" or (outer.key and self.headers.get("Authorization") != f"Bearer {outer.key}"):
                    return self._error(401, "Invalid API key", "authentication_error")
                if mode == "404" or body.get("model") != outer.model:
                    return self._error(404, f"model '{body.get('model')}' not found", "not_found_error")
                if mode == "500":
                    return self._error(500, "internal failure", "server_error")
                if mode == "hang":
                    time.sleep(outer.hang_s)
                if mode == "malformed":
                    return self._send(200, b'{"id": "x", "choices": [ {"message": ')
                if mode == "context":
                    return self._error(400, "the request exceeds the available context size, try increasing it",
                                       "exceed_context_size_error")
                if self.path.endswith("/embeddings"):
                    return self._embeddings(body)
                if body.get("stream"):
                    return self._stream(body, cut=mode == "cut")
                return self._chat(body)

            def _embeddings(self, body: dict[str, Any]) -> None:
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [{"object": "embedding", "index": i, "embedding": outer.embed(t)} for i, t in enumerate(texts)]
                self._send(200, json.dumps({"object": "list", "data": data, "model": outer.model,
                                            "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode())

            def _finish(self) -> tuple[str, int]:
                words = outer.reply.split(" ")
                if outer.mode == "length":
                    return "length", 3
                return "stop", len(words)

            def _chat(self, body: dict[str, Any]) -> None:
                reason, tokens = self._finish()
                message: dict[str, Any] = {"role": "assistant", "content": outer.reply}
                choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": reason}
                if body.get("logprobs"):
                    choice["logprobs"] = {"content": [{"token": w, "logprob": -0.1, "bytes": None,
                                                       "top_logprobs": [{"token": w, "logprob": -0.1, "bytes": None}]}
                                                      for w in outer.reply.split(" ")]}
                self._send(200, json.dumps({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": outer.model,
                    "choices": [choice],
                    "usage": {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}}).encode())

            def _stream(self, body: dict[str, Any], *, cut: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def event(payload: dict[str, Any] | str) -> None:
                    data = payload if isinstance(payload, str) else json.dumps(payload)
                    raw = f"data: {data}\n\n".encode()
                    self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                    self.wfile.flush()

                def chunk(delta: dict[str, Any], reason: str | None) -> dict[str, Any]:
                    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": outer.model,
                            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}

                words = outer.reply.split(" ")
                for i, word in enumerate(words):
                    event(chunk({"content": word if i == 0 else " " + word}, None))
                    if cut and i == 1:
                        self.close_connection = True
                        self.connection.shutdown(2)  # mid-answer, without the stream's end
                        return
                reason, tokens = self._finish()
                event(chunk({}, reason))
                if (body.get("stream_options") or {}).get("include_usage"):
                    event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": outer.model,
                           "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": tokens,
                                                    "total_tokens": 10 + tokens}})
                event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]
