"""A model lock that lets questions go before queued document batches.

A plain lock is not fair: an ingest that releases it after one batch and takes it again at once can keep a
waiting question out for the whole ingest. Here a waiting query always gets the model next; documents wait
until no query is waiting.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class QueryFirstLock:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._queries_waiting = 0

    @contextmanager
    def query(self) -> Iterator[None]:
        with self._cond:
            self._queries_waiting += 1
            try:
                while self._busy:
                    self._cond.wait()
            finally:
                self._queries_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def documents(self) -> Iterator[None]:
        with self._cond:
            while self._busy or self._queries_waiting:
                self._cond.wait()
            self._busy = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()


@contextmanager
def file_lock(path: Path | None, *, blocking: bool = True, create: bool = True) -> Iterator[bool]:
    """An exclusive lock on `path` shared by every thread and process that takes it (fcntl.flock); yields False
    when `blocking` is off and another holder has it, or when `create` is off and the file is gone. None: no lock
    (an index in memory)."""
    if path is None:
        yield True
        return
    import fcntl

    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT if create else os.O_RDONLY, 0o644)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock
