"""A bounded load of concurrent askers against a running newsqa REST API (loopback), owned by the tests.

    python tests/load_askers.py http://127.0.0.1:8000 --askers 20 [--token T] [--as-of 2025-11-05]

Each asker sends one question carrying its own marker (`Q07-3f2a`); an answer that holds another asker's
marker is cross-talk. Prints answered/errors/cross-talk, latency p50/p95 and throughput.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field

MARKER = re.compile(r"Q\d+-[0-9a-f]+")


def free_port() -> int:
    """A TCP port free on loopback right now (for a server a test or benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LoadResult:
    askers: int
    answered: int = 0
    errors: list[str] = field(default_factory=list)
    crosstalk: int = 0
    latencies_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    def percentile(self, q: float) -> float:
        values = sorted(self.latencies_s)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]

    def summary(self) -> dict:
        return {"askers": self.askers, "answered": self.answered, "errors": len(self.errors),
                "crosstalk": self.crosstalk, "p50_s": round(self.percentile(50), 2),
                "p95_s": round(self.percentile(95), 2), "max_s": round(max(self.latencies_s, default=0), 2),
                "mean_s": round(statistics.mean(self.latencies_s), 2) if self.latencies_s else None,
                "wall_s": round(self.wall_s, 2),
                "throughput_qps": round(self.answered / self.wall_s, 3) if self.wall_s else None}


def run_load(base_url: str, askers: int = 20, *, template: str = "What does the report say about {marker}?",
             questions: list[str] | None = None, as_of: str | None = None, token: str | None = None,
             timeout: float = 120.0) -> LoadResult:
    """Start `askers` threads at once, each asking one question; wait at most `timeout` seconds in all.

    With `questions`, asker i asks questions[i % len(questions)] and cross-talk means an answer that echoes
    another question; otherwise each question carries a marker built from `template`."""
    import httpx

    result = LoadResult(askers=askers)
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    barrier = threading.Barrier(askers)

    def ask(i: int) -> None:
        marker = f"Q{i:02d}-{secrets.token_hex(2)}"
        question = questions[i % len(questions)] if questions else template.format(marker=marker)
        body = {"question": question}
        if as_of:
            body["as_of"] = as_of
        barrier.wait()
        start = time.perf_counter()
        try:
            res = httpx.post(f"{base_url}/api/ask", json=body, headers=headers, timeout=timeout)
            elapsed = time.perf_counter() - start
            if res.status_code != 200:
                raise RuntimeError(f"HTTP {res.status_code}: {res.text[:200]}")
            payload = res.json()
            others = [m for m in MARKER.findall(payload["answer"]) if m != marker]
            with lock:
                result.answered += 1
                result.latencies_s.append(elapsed)
                result.crosstalk += bool(others) or payload.get("question", question) != question
        except Exception as exc:  # recorded, not raised: the load reports every failure
            with lock:
                result.errors.append(f"{marker}: {exc}")

    threads = [threading.Thread(target=ask, args=(i,), daemon=True) for i in range(askers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    deadline = start + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.perf_counter()))
    result.wall_s = time.perf_counter() - start
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        result.errors.append(f"{stuck} askers still waiting after {timeout:.0f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--askers", type=int, default=20)
    parser.add_argument("--token")
    parser.add_argument("--as-of")
    parser.add_argument("--template", default="What does the report say about {marker}?")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    result = run_load(args.url, args.askers, template=args.template, as_of=args.as_of, token=args.token,
                      timeout=args.timeout)
    print(json.dumps(result.summary(), indent=2))


if __name__ == "__main__":
    main()
