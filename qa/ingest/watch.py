"""Feeds kept watched: each is polled every `every_s` seconds with a conditional GET, its new and changed items
ingested; a failing feed backs off (doubling, up to 64x) and never stops the others.

State (per feed: its validators for conditional GET, last poll, counts, last error, next poll) lives in one JSON
file beside the index, replaced atomically after each poll, so it survives a restart. A poll killed midway
(SIGKILL) saves nothing: the next poll fetches again without validators and the ingest pipeline, idempotent,
adds what is missing and duplicates nothing.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from qa.errors import InputError

MAX_BACKOFF = 64


@dataclass
class FeedState:
    url: str
    added_at: str = ""
    last_poll: str | None = None
    last_ok: str | None = None
    new: int = 0  # articles added by the last poll
    updated: int = 0  # articles replaced by the last poll
    failed: int = 0  # items the last poll could not ingest
    last_error: str | None = None
    failures: int = 0  # polls failed in a row
    next_poll: float = 0.0  # epoch seconds
    validators: dict[str, dict[str, str]] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("validators")
        row["next_poll"] = _iso(self.next_poll) if self.next_poll else None
        return row


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


class FeedWatcher:
    """Polls the feeds in `state_path` into `service` (a QAService)."""

    def __init__(self, service, state_path: Path, every_s: float = 900.0,
                 clock: Callable[[], float] = time.time, write_lock: threading.Lock | None = None) -> None:
        self.service = service
        self.path = Path(state_path)
        self.every_s = every_s
        self.clock = clock
        self._lock = threading.RLock()
        # one writer at a time: a poll waits for the server's other ingests and deletes, and they for it
        self._polling = write_lock or threading.Lock()
        self.feeds: dict[str, FeedState] = self._read()

    def _read(self) -> dict[str, FeedState]:
        if not self.path.is_file():
            return {}
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
            return {r["url"]: FeedState(**r) for r in rows}
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"{self.path}: the feeds list cannot be read ({exc}); fix or delete the file") from exc

    def _save(self) -> None:
        """Write the list to a new file beside it, flush it to disk, then rename it over the old one."""
        import tempfile

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=".feeds-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump([asdict(f) for f in self.feeds.values()], out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, self.path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise

    def snapshot(self) -> list[FeedState]:
        with self._lock:
            return list(self.feeds.values())

    @property
    def write_lock(self):
        """The lock every writer of the index takes (the server's ingests, deletes and polls)."""
        return self._polling

    def add(self, url: str) -> FeedState:
        from qa.ingest.web import canonical_url, is_url

        from qa.ingest.web import FetchError

        if not is_url(url) or not url.lower().startswith(("http://", "https://")):
            raise InputError(f"not a feed address: {url!r} (write http://… or https://…)")
        try:
            key = canonical_url(url)
        except FetchError as exc:
            raise InputError(f"not a feed address: {url!r}: {exc}") from exc
        with self._lock:
            state = self.feeds.get(key) or FeedState(url=key, added_at=_iso(self.clock()))
            self.feeds[key] = state
            self._save()
            return state

    def remove(self, url: str) -> bool:
        from qa.ingest.web import FetchError, canonical_url

        try:
            key = canonical_url(url)
        except FetchError:
            return False
        with self._lock:
            gone = self.feeds.pop(key, None) is not None
            self._save()
            return gone

    def due(self) -> list[str]:
        now = self.clock()
        with self._lock:
            return [u for u, f in self.feeds.items() if f.next_poll <= now]

    def poll(self, url: str) -> FeedState:
        """Poll one feed now: its new and changed items go into the index; the outcome is saved."""
        from qa.ingest.web import Fetcher, WebLoader

        state = self.feeds.get(url)
        if state is None:
            raise InputError(f"no watched feed {url!r}")
        started = self.clock()
        try:  # the network first, outside the write lock (preload closes the connections)
            loader = self.service.web_loader()
            fetcher = Fetcher(loader.policy, validators={k: dict(v) for k, v in state.validators.items()},
                              transport=loader.fetcher.transport)
            fetched = WebLoader(fetcher, loader.make_article).preload([url])
        except Exception as exc:  # noqa: BLE001 - reported on the feed
            return self._failed(state, started, f"{type(exc).__name__}: {exc}")
        with self._polling:
            if self.feeds.get(url) is not state:  # removed while this poll fetched or waited for the lock
                raise InputError(f"no watched feed {url!r}")
            try:
                report = self.service.ingest(fetched)
            except Exception as exc:  # one feed's failure (a model server, the store) never stops the others
                return self._failed(state, started, f"{type(exc).__name__}: {exc}")
            failed = {r.path: r.error for r in report.files if r.status == "failed"}
            if url in failed:  # the feed itself could not be read
                return self._failed(state, started, failed[url])
            with self._lock:
                state.last_poll = state.last_ok = _iso(started)
                state.new, state.updated, state.failed = report.added, report.replaced, report.failed
                state.last_error = next(iter(failed.values()), None)
                state.failures = 0
                state.next_poll = started + self.every_s
                # An item that failed (a page timed out) is fetched again next time: the feed and that page are
                # asked without validators, so no 304 hides them.
                state.validators = {u: v for u, v in fetcher.validators.items()
                                    if not (failed and u == url) and u not in failed}
                self._save()
            return state

    def _failed(self, state: FeedState, started: float, error: str) -> FeedState:
        with self._lock:
            state.last_poll, state.last_error = _iso(started), error
            state.new = state.updated = 0
            state.failed = 1
            state.failures += 1
            state.next_poll = started + self.every_s * min(MAX_BACKOFF, 2 ** state.failures)
            self._save()
        return state

    def poll_due(self) -> list[FeedState]:
        polled = []
        for url in self.due():
            try:
                polled.append(self.poll(url))
            except InputError:  # removed meanwhile
                continue
        return polled

    def run(self, stop: threading.Event, tick_s: float = 5.0, on_poll: Callable[[FeedState], None] | None = None) -> None:
        """Poll due feeds until `stop` is set; an unexpected error is logged and the loop goes on."""
        import logging

        while not stop.is_set():
            try:
                for state in self.poll_due():
                    if on_poll:
                        on_poll(state)
            except Exception:  # noqa: BLE001 - the poller must outlive any one failure
                logging.getLogger("newsqa.feeds").exception("feed poll failed")
            stop.wait(tick_s)


def poll_in_background(app, watcher: FeedWatcher, tick_s: float = 5.0) -> None:
    """Poll `watcher`'s due feeds in a thread for as long as the ASGI `app` runs (its lifespan)."""
    from contextlib import asynccontextmanager

    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        stop = threading.Event()
        worker = threading.Thread(target=watcher.run, args=(stop, tick_s), daemon=True, name="feeds")
        worker.start()
        try:
            async with outer(a) as state:
                yield state
        finally:
            stop.set()

    app.router.lifespan_context = lifespan
