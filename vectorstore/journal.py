"""An append-only file of JSON lines, fsynced, read from an offset: the keyword index's journal of batches.

Writers hold a lock of their own (vectorstore/locks.py `file_lock`) while appending. A line cut by a crash has no
newline; readers stop before it, and the next append starts on a new line, so the cut line stays alone and is
skipped as unreadable."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator


def append(path: Path, entry: dict[str, Any]) -> int:
    """Append one line and return the file's size after it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry) + "\n").encode("utf-8")
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                line = b"\n" + line
    with path.open("ab") as fh:  # one write of one line
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return path.stat().st_size


def read(path: Path | None, offset: int) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(offset after the line, its entry or None when unreadable) for each whole line after `offset`."""
    try:
        if path is None or path.stat().st_size <= offset:
            return
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            return  # being written, or cut by a crash: read again next time
        offset += len(line)
        try:
            yield offset, json.loads(line)
        except ValueError:
            yield offset, None
