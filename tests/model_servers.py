"""Real OpenAI-compatible model servers on free loopback ports, for tests and benchmarks: llama.cpp's server
(tests/llama_server.py, the xllamacpp wheel) for chat, and Infinity (`infinity_emb`, installed by
`make servers` into its own virtual environment, .venv-servers) for /v1/embeddings over the local
sentence-transformers folder. Each runs as a subprocess in its own process group, stopped by its pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
INFINITY = Path(os.environ.get("NEWSQA_TEST_SERVERS_VENV", ROOT / ".venv-servers")) / "bin" / "infinity_emb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, log: Path, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no answer at {url} after {limit_s:.0f} s: {log.read_text()[-2000:]}")


@contextmanager
def _running(command: list[str], ready_url: str, log: Path, limit_s: float, env: dict | None = None) -> Iterator[int]:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, **(env or {})})
    try:
        _wait(ready_url, process, log, limit_s)
        yield process.pid
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


@contextmanager
def llama_server(gguf: str | Path, log_dir: Path, *, alias: str = "newsqa-llm", threads: int = 2,
                 ctx: int = 4096) -> Iterator[str]:
    """llama.cpp's server with `gguf`; yields its base URL (http://127.0.0.1:PORT/v1)."""
    port = free_port()
    command = [sys.executable, str(ROOT / "tests" / "llama_server.py"), str(gguf), str(port), "--alias", alias,
               "--threads", str(threads), "--ctx", str(ctx)]
    with _running(command, f"http://127.0.0.1:{port}/health", log_dir / f"llama-{port}.log", 180):
        yield f"http://127.0.0.1:{port}/v1"


@contextmanager
def infinity_server(model_folder: str | Path, log_dir: Path, *, name: str = "embeddinggemma-300m",
                    threads: int = 2) -> Iterator[str]:
    """Infinity serving a sentence-transformers folder as `name`, in float32; yields its base URL."""
    if not INFINITY.exists():
        raise FileNotFoundError(f"{INFINITY} is missing: run `make servers`")
    port = free_port()
    command = [str(INFINITY), "v2", "--model-id", str(model_folder), "--served-model-name", name,
               "--host", "127.0.0.1", "--port", str(port), "--url-prefix", "/v1", "--engine", "torch",
               "--device", "cpu", "--dtype", "float32", "--no-model-warmup", "--no-bettertransformer"]
    env = {"HF_HUB_OFFLINE": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0", "DO_NOT_TRACK": "1",
           "OMP_NUM_THREADS": str(threads)}
    with _running(command, f"http://127.0.0.1:{port}/v1/models", log_dir / f"infinity-{port}.log", 300, env):
        yield f"http://127.0.0.1:{port}/v1"
