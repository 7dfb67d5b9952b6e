"""Chunks that are searchable by keyword while their vectors are being computed.

An ingest batch is staged before it is embedded: its records (and the ids it replaces) are written to one file
here, then applied to the keyword index, so a new article can be found by keyword search at once. When the store
holds the batch, the file is removed. A file left behind by a crash is a batch the store may lack: the next
writer stores it again (`batches`, then `done`), and until then `WithPending` lets readers see its records.
Each file is written aside, flushed and renamed into place, so a reader sees a whole batch or none.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vectorstore.base import Record, VectorStore
from vectorstore.filters import matches
from vectorstore.locks import file_lock


class PendingRecords:
    """Staged batches, in memory and, with `folder`, on disk (one JSON file per batch, named in time order)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else None
        self._lock = threading.Lock()
        self._batches: dict[str, tuple[list[Record], list[str]]] = {}
        self._held: dict[str, int] = {}  # batches this process staged: their locked descriptors
        self._refresh()

    def stage(self, records: Sequence[Record], removed: Sequence[str] = ()) -> str:
        """Keep this batch until `done`; returns its name."""
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        batch = (list(records), list(removed))
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            payload = {"records": [{"id": r.id, "text": r.text, "metadata": dict(r.metadata),
                                    "embed_text": r.embed_text} for r in records], "removed": list(removed)}
            temporary = self.folder / f".{name}.tmp"
            with temporary.open("w", encoding="utf-8") as fh:
                json.dump(payload, fh)
                fh.flush()
                os.fsync(fh.fileno())
            # Held until `done`: a batch whose writer is alive is not another writer's to recover.
            held = os.open(temporary, os.O_RDONLY)
            fcntl.flock(held, fcntl.LOCK_EX)
            os.replace(temporary, self.folder / f"{name}.json")
            self._held[name] = held
        with self._lock:
            self._batches[name] = batch
        return name

    def done(self, name: str) -> None:
        """The store holds this batch: forget it."""
        with self._lock:
            self._batches.pop(name, None)
        if self.folder is not None:
            (self.folder / f"{name}.json").unlink(missing_ok=True)
            held = self._held.pop(name, None)
            if held is not None:
                os.close(held)

    def claim(self, name: str):
        """A lock on a batch for recovering it (context manager yielding False when its writer still holds it:
        that batch is in flight, not left by a crash)."""
        if name in self._held:
            return nullcontext(False)  # another thread of this process is storing it
        path = None if self.folder is None else self.folder / f"{name}.json"
        return file_lock(path, blocking=False, create=False)

    def batches(self) -> list[tuple[str, list[Record], list[str]]]:
        """Every batch not yet done, oldest first (with those another process left)."""
        self._refresh()
        with self._lock:
            return [(name, *self._batches[name]) for name in sorted(self._batches)]

    def snapshot(self) -> tuple[list[Record], set[str]]:
        """From one reading of the batches: their records (the newest version of each id, less those a later
        batch removes) and the ids they replace (still in the store until their batch is done, less those
        re-added)."""
        added: dict[str, Record] = {}
        removed: set[str] = set()
        for _name, records, dropped in self.batches():
            for chunk_id in dropped:
                added.pop(chunk_id, None)
            removed.update(dropped)
            added.update((r.id, r) for r in records)
            removed.difference_update(r.id for r in records)
        return list(added.values()), removed

    def records(self) -> list[Record]:
        return self.snapshot()[0]

    def _refresh(self) -> None:
        """Read the folder's batch files again (another process may have staged or finished one); files already
        read are kept from memory."""
        if self.folder is None:
            return
        try:
            names = sorted(p.name[:-5] for p in self.folder.glob("*.json"))
        except OSError:
            return
        with self._lock:
            known = dict(self._batches)
        loaded: dict[str, tuple[list[Record], list[str]]] = {}
        for name in names:
            if name in known:
                loaded[name] = known[name]
                continue
            try:
                data = json.loads((self.folder / f"{name}.json").read_text(encoding="utf-8"))
                loaded[name] = ([Record(r["id"], r["text"], r["metadata"], embed_text=r.get("embed_text"))
                                 for r in data["records"]], list(data["removed"]))
            except FileNotFoundError:
                continue  # done meanwhile
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not a batch this version wrote; left in place for a person to look at
        with self._lock:
            # batches staged by this process since the listing stay (their file may not have been listed yet)
            self._batches = {**loaded, **{n: b for n, b in self._batches.items() if n in self._held}}


class KeywordFirst:
    """How an ingest batch is written when keyword search comes first: staged (on disk, then in the keyword
    index: searchable), then embedded into the store by the caller, then `done`. `recover` stores what a crash
    left staged."""

    def __init__(self, keyword: Any, pending: PendingRecords) -> None:
        self.keyword = keyword
        self.pending = pending

    def stage(self, records: Sequence[Record], removed: Sequence[str]) -> str:
        name = self.pending.stage(records, removed)
        self.keyword.apply(records, removed)
        return name

    def done(self, name: str) -> None:
        """The batch is stored, or its store write failed (then `KeywordIndex.sync` follows the store again)."""
        self.pending.done(name)

    def recover(self, store: VectorStore) -> int:
        """Write every batch a crash left staged into the store (upserts and deletes are idempotent); returns
        how many records were written."""
        written = 0
        for name, records, removed in self.pending.batches():
            with self.pending.claim(name) as mine:
                if not mine:
                    continue  # its writer is alive and storing it
                if records:
                    store.upsert(records)
                    written += len(records)
                if removed:
                    store.delete([i for i in removed if i not in {r.id for r in records}])
                self.pending.done(name)
        return written


class WithPending:
    """A read view of a VectorStore that also returns the records of pending batches (and hides the ids they
    replace) wherever records are read by id or by metadata. Dense search sees the store alone; `similarity`
    scores the pending records keyword search found, so the retriever can rank them as if they were stored."""

    def __init__(self, store: VectorStore, pending: PendingRecords,
                 embed: Callable[[Sequence[Record]], list[list[float]]] | None = None) -> None:
        self.store = store
        self.pending = pending
        self.embed = embed  # records -> vectors, as the store embeds them (`embed_records`)
        self._vectors: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # search, upsert, delete, count, langchain...: the store's own
        return getattr(self.store, name)

    def similarity(self, vector: Sequence[float], ids: Sequence[str]) -> dict[str, float]:
        """{id: cosine similarity to `vector`} for those of these ids that are pending records (no vector in the
        store yet); each is embedded on first use and kept while it is pending."""
        everything = self.pending.records() if self.embed is not None else []
        if not everything:
            return {}
        wanted = set(ids)
        records = [r for r in everything if r.id in wanted]
        with self._lock:
            alive = {r.id for r in everything}
            self._vectors = {i: v for i, v in self._vectors.items() if i in alive}
            todo = [r for r in records if r.id not in self._vectors]
        if todo:
            made = self.embed(todo)
            with self._lock:
                self._vectors.update((r.id, np.asarray(v, dtype=np.float32)) for r, v in zip(todo, made))
        query = np.asarray(vector, dtype=np.float32)
        query = query / (np.linalg.norm(query) or 1.0)
        out = {}
        for r in records:
            v = self._vectors.get(r.id)
            if v is not None:
                out[r.id] = float(v @ query / (np.linalg.norm(v) or 1.0))
        return out

    def get(self, ids: Sequence[str]) -> list[Record]:
        found = self.store.get(ids)
        extra = {r.id: r for r in self.pending.records()}
        if not extra:
            return found
        have = {r.id for r in found}
        return found + [extra[i] for i in dict.fromkeys(ids) if i not in have and i in extra]

    def metadata(self, where: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
        return self._listed(self.store.metadata(where), where, lambda r: (r.id, dict(r.metadata)))

    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        return self._listed(self.store.ids(where), where, lambda r: r.id, key=lambda i: i)

    def _listed(self, stored: list, where, shape: Callable[[Record], Any], key: Callable[[Any], str] = lambda p: p[0]):
        records, removed = self.pending.snapshot()
        if not records and not removed:
            return stored
        extra = [r for r in records if matches(r.metadata, where)]
        have = {key(item) for item in stored}
        return [item for item in stored if key(item) not in removed] + [shape(r) for r in extra if r.id not in have]
