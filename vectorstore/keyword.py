"""A BM25 keyword index (bm25s) kept next to the vector store and derived from it.

The store (with the batches waiting for vectors, vectorstore/pending.py) is the source of truth. The index is a
bm25s build (the main part) plus the chunks added and removed since (the tail, vectorstore/bm25_tail.py), applied
a batch at a time and journaled, so a new article is searchable at once, not after a rebuild (10 s at 30k
chunks on 2 cores). `compact` rebuilds a long tail; `sync(store)` rebuilds on any difference with the store
(a crash between two writes, a torn journal line). A rebuild replaces the folder atomically (write aside, rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vectorstore.analysis import analyze
from vectorstore.base import Record, VectorStore
from vectorstore.bm25_tail import Tail, build_df
from vectorstore import journal
from vectorstore.filters import as_columns, column_mask
from vectorstore.locks import file_lock

FILTER_KEYS = ("published_int", "language", "source", "article_id")
# Also kept per chunk: where it sits in its article, so a passage's neighbours are found by id (`chunk_at`)
# instead of by a metadata query to the store (188 ms at 100k chunks in Chroma's SQLite, bench/RESULTS.md).
PLACE_KEYS = ("article_hash", "position")
KEPT_KEYS = FILTER_KEYS + PLACE_KEYS
def _stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def _keys(where: dict[str, Any]) -> set[str]:
    """The metadata keys a filter reads."""
    keys: set[str] = set()
    for key, cond in where.items():
        if key in ("$and", "$or"):
            for part in cond:
                keys |= _keys(part)
        else:
            keys.add(key)
    return keys


def ids_digest(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


class KeywordIndex:
    """BM25 over the chunks of one vector-store collection, persisted in `folder` (None: memory only)."""

    # A tail of more chunks than this share of the main part (and at least `compact_min`) is due a rebuild.
    compact_share = 0.25
    compact_min = 2000

    def __init__(self, folder: str | Path | None = None, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.folder = Path(folder) if folder else None
        self.k1, self.b = k1, b
        self._lock = threading.RLock()
        self._clear()
        # (inode, mtime in ns) of the manifest last read or written: a rebuild renames a new folder into place
        self._loaded_mtime: tuple[int, int] | None = None
        self._journal_read = 0  # bytes of the journal applied

    def _clear(self) -> None:
        self._ids: list[str] = []  # every row: the main part's, then the tail's (removed rows stay, not alive)
        self._meta: list[dict[str, Any]] = []
        self._alive = np.zeros(0, dtype=bool)
        self._n_main = 0
        self._bm25: Any = None
        self._avgdl = 1.0
        self._df_main: dict[str, int] | None = None
        self._tail = Tail()
        self._derived()

    def _derived(self) -> None:
        """Forget what is computed from the rows (columns, languages, lookups, digest); done after each change."""
        self._columns = as_columns(self._meta, KEPT_KEYS)
        self._languages = self._count_languages({k: c[self._alive] for k, c in self._columns.items()})
        self._places: dict[tuple[str, str, int], str] | None = None  # built on the first `chunk_at`
        self._rows: dict[str, int] | None = None  # live id -> row, built on first use
        self._digest: str | None = None

    def __len__(self) -> int:
        return int(self._alive.sum())

    def ids(self) -> list[str]:
        """The ids of the chunks held."""
        with self._lock:
            return [self._ids[n] for n in np.flatnonzero(self._alive)]

    @property
    def digest(self) -> str:
        with self._lock:
            if self._digest is None:
                self._digest = ids_digest(self.ids())
            return self._digest

    @property
    def tail_size(self) -> int:
        """Rows added since the last rebuild."""
        return len(self._ids) - self._n_main

    def compact_due(self) -> bool:
        return self.tail_size > max(self.compact_min, self.compact_share * self._n_main)

    def _row_of(self) -> dict[str, int]:
        if self._rows is None:
            self._rows = {self._ids[n]: int(n) for n in np.flatnonzero(self._alive)}
        return self._rows

    def languages(self, most: int = 3, min_share: float = 0.0) -> list[str]:
        """The most common chunk languages, most frequent first, that hold at least `min_share` of the chunks
        (the query is analysed in each); counted once per change, not per question."""
        return [language for language, share in self._languages[:most] if share >= min_share]

    @staticmethod
    def _count_languages(columns: dict[str, np.ndarray]) -> list[tuple[str, float]]:
        column = columns.get("language")
        if column is None or not len(column):
            return []
        values, counts = np.unique(column, return_counts=True)
        return [(str(v), c / len(column)) for v, c in sorted(zip(values, counts), key=lambda p: -p[1]) if v]

    def _manifest(self) -> Path | None:
        return self.folder / "manifest.json" if self.folder else None

    def _journal(self) -> Path | None:
        return self.folder / "journal.jsonl" if self.folder else None

    def load(self) -> bool:
        """Read the saved index and its journal; False when there is none or it is unreadable (then `sync`
        rebuilds it)."""
        manifest = self._manifest()
        if manifest is None or not manifest.is_file():
            return False
        try:
            stamp = _stamp(manifest)
            data = json.loads(manifest.read_text(encoding="utf-8"))
            if data["rows"] and any(key not in data["rows"][0] for key in KEPT_KEYS):
                return False  # saved by an older version without the chunks' places: `sync` rebuilds it
            bm25 = None
            if data["ids"]:
                import bm25s

                bm25 = bm25s.BM25.load(str(self.folder / "bm25"), show_progress=False)
            with self._lock:
                self._clear()
                self._ids = list(data["ids"])
                self._meta = list(data["rows"])
                self._alive = np.ones(len(self._ids), dtype=bool)
                self._n_main = len(self._ids)
                self._avgdl = float(data.get("avgdl") or 1.0)
                self._bm25 = bm25
                self._journal_read = 0
                self._replay()
                self._derived()
                self._loaded_mtime = stamp
            return True
        except (OSError, ValueError, KeyError):
            return False

    def _replay(self) -> bool:
        """Apply the journal lines written since the last read (by this or another process); True if any."""
        applied = False
        for offset, entry in journal.read(self._journal(), self._journal_read):
            self._journal_read = offset
            try:
                self._apply_rows(entry["add"], entry["drop"])  # type: ignore[index]
                applied = True
            except (KeyError, TypeError):
                continue  # an unreadable line: `sync` finds the difference with the store and rebuilds
        return applied

    def _changed_on_disk(self) -> bool:
        manifest = self._manifest()
        if manifest is None:
            return False
        try:
            return _stamp(manifest) != self._loaded_mtime
        except OSError:
            return False

    def build(self, records: Sequence[Record]) -> None:
        """Index these records (replacing whatever was indexed) and save. The slow part runs without the lock;
        searches go on against the previous index until the new one is swapped in."""
        import bm25s

        ids = [r.id for r in records]
        bm25 = None
        tokens = [self._tokens(r) for r in records]
        if records:
            bm25 = bm25s.BM25(k1=self.k1, b=self.b)
            bm25.index([t or ["\u2400"] for t in tokens], show_progress=False)
        rows = [{k: r.metadata.get(k) for k in KEPT_KEYS} for r in records]
        avgdl = max(1.0, sum(max(1, len(t)) for t in tokens) / len(tokens)) if tokens else 1.0
        with self._lock:
            self._clear()
            self._ids, self._meta, self._bm25, self._avgdl = ids, rows, bm25, avgdl
            self._alive = np.ones(len(ids), dtype=bool)
            self._n_main = len(ids)
            self._derived()
            self._save(rows)

    @staticmethod
    def _tokens(record: Record) -> list[str]:
        return analyze(record.text + " " + str(record.metadata.get("title") or ""), record.metadata.get("language"))

    def _save(self, rows: list[dict[str, Any]]) -> None:
        if self.folder is None:
            return
        parent = self.folder.parent
        parent.mkdir(parents=True, exist_ok=True)
        staging = parent / f".{self.folder.name}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        if self._bm25 is not None:
            self._bm25.save(str(staging / "bm25"), show_progress=False)
        payload = {"digest": self.digest, "ids": self._ids, "rows": rows, "avgdl": self._avgdl}
        (staging / "manifest.json").write_text(json.dumps(payload), encoding="utf-8")
        old = parent / f".{self.folder.name}.old-{os.getpid()}"
        if self.folder.exists():
            os.replace(self.folder, old)
        os.replace(staging, self.folder)
        shutil.rmtree(old, ignore_errors=True)
        self._loaded_mtime = _stamp(self.folder / "manifest.json")
        self._journal_read = 0

    def apply(self, added: Sequence[Record], removed: Sequence[str] = ()) -> None:
        """Add these records and remove these ids now (searchable at once), and journal the change."""
        entry = {"add": [{"id": r.id, "tf": dict(Counter(self._tokens(r) or ["\u2400"])),
                          "meta": {k: r.metadata.get(k) for k in KEPT_KEYS}} for r in added],
                 "drop": list(removed)}
        with file_lock(self._lockfile()), self._lock:  # one journal writer at a time, in any process
            self._catch_up()  # every line before ours applied, so the offset below stays on a line boundary
            self._apply_rows(entry["add"], entry["drop"])
            self._derived()
            if self.folder is not None:
                self._journal_read = journal.append(self._journal(), entry)

    def _lockfile(self) -> Path | None:
        """The writers' lock, beside the folder (which a rebuild replaces)."""
        return self.folder.parent / f".{self.folder.name}.lock" if self.folder else None

    def _apply_rows(self, added: list[dict[str, Any]], removed: list[str]) -> None:
        rows = self._row_of()
        alive = self._alive.copy()
        for chunk_id in removed:
            n = rows.pop(chunk_id, None)
            if n is not None:
                alive[n] = False
        fresh = [a for a in added if a["id"] not in rows]
        fresh = list({a["id"]: a for a in fresh}.values())  # one row per id
        for a in fresh:
            n = len(self._ids)
            rows[a["id"]] = n
            self._ids.append(a["id"])
            self._meta.append(a["meta"])
            self._tail.add(a["tf"])
        self._alive = np.concatenate([alive, np.ones(len(fresh), dtype=bool)])
        self._rows = rows
        self._places = None
        self._digest = None

    def _catch_up(self) -> None:
        """Read what other processes saved: a new build (reload), or new journal lines."""
        if self.folder is None:
            return
        if self._loaded_mtime is None or self._changed_on_disk():
            self.load()
        elif self._replay():
            self._derived()

    def matching(self, ids: Sequence[str], where: dict[str, Any]) -> list[bool] | None:
        """For each id, whether its chunk matches `where`, from the columns in memory. None ("cannot tell": the
        caller reads the store's metadata) when an id is not held here (not synced yet), when `where` names a key
        not kept here, or when the filter cannot be evaluated on these columns (unknown operator, mixed types)."""
        if not _keys(where) <= set(KEPT_KEYS):
            return None
        with self._lock:
            found = self._row_of()
            rows = [found.get(i) for i in ids]
            if any(n is None for n in rows):
                return None
            picked = np.asarray(rows, dtype=np.int64)
            columns = {key: column[picked] for key, column in self._columns.items()}
        try:
            return [bool(hit) for hit in column_mask(columns, len(rows), where)]
        except (TypeError, ValueError):
            return None

    def ids_where(self, where: dict[str, Any]) -> list[str] | None:
        """Every id held here whose chunk matches `where`, from the columns in memory (None: as for `matching`)."""
        if not _keys(where) <= set(KEPT_KEYS):
            return None
        with self._lock:
            ids, columns, alive = self._ids, self._columns, self._alive
        try:
            mask = column_mask(columns, len(alive), where) & alive
        except (TypeError, ValueError):
            return None
        return [ids[n] for n in np.flatnonzero(mask)]

    def chunk_at(self, article_id: str, article_hash: str, position: int) -> str | None:
        """The id of the chunk at `position` of that version of the article, None if the index holds none."""
        with self._lock:
            if self._places is None:
                columns = self._columns
                self._places = {(str(columns["article_id"][n]), str(columns["article_hash"][n]),
                                 _position(columns["position"][n])): self._ids[n] for n in np.flatnonzero(self._alive)}
            return self._places.get((str(article_id), str(article_hash), int(position)))

    def sync(self, store: VectorStore, *, force: bool = False, pending: Any = None) -> bool:
        """Make the index describe exactly the store's records (and `pending`'s: a PendingRecords, whose chunks
        are searchable here before the store has their vectors); True when it had to rebuild."""
        with file_lock(self._lockfile()):  # no journal line lands between the snapshot and the new folder
            extra: list[Record] = []
            removed: set[str] = set()
            if pending is not None:  # read before the store: a batch is staged before it is stored, so a batch
                extra, removed = pending.snapshot()  # moving meanwhile is seen in at least one of the two
            ids = (set(store.ids()) - removed) | {r.id for r in extra}
            with self._lock:
                if not force:
                    self._catch_up()
                    saved = self._manifest() is None or self._manifest().is_file()  # the journal needs a base
                    if saved and ids_digest(sorted(ids)) == self.digest:
                        return False
            kept = sorted(ids - {r.id for r in extra})
            records: list[Record] = []
            for start in range(0, len(kept), 5000):
                records.extend(store.get(kept[start:start + 5000]))
            self.build(records + extra)
            return True

    def compact(self, store: VectorStore, pending: Any = None) -> bool:
        """Rebuild when the tail is due (`compact_due`); True when it did."""
        if not self.compact_due():
            return False
        self.sync(store, force=True, pending=pending)
        return True

    def refresh(self) -> None:
        """Cheap per-query check: read what another process saved since (a rebuild or journal lines); a store
        changed by a crashed writer is caught by the next `sync`, at the latest when a service opens the index."""
        with self._lock:
            self._catch_up()

    def _tail_scores(self, tokens: Sequence[str], mask: np.ndarray | None) -> list[tuple[int, float]]:
        """(row, BM25 score) of the live tail chunks matching the mask."""
        if not len(self._tail):
            return []
        if self._df_main is None:
            self._df_main = build_df(self._bm25)
        scores = self._tail.scores(tokens, self._df_main, len(self), self._avgdl, self.k1, self.b)
        live = self._alive if mask is None else self._alive & mask
        return [(self._n_main + t, s) for t, s in scores.items() if live[self._n_main + t]]

    def search(self, tokens: Sequence[str], k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """The k best (id, BM25 score) pairs for these query tokens among records matching `where`."""
        with self._lock:
            if not tokens or k < 1 or not len(self):
                return []
            mask = column_mask(self._columns, len(self._ids), where) if where else None
            if mask is not None and not mask.any():
                return []
            found = self._tail_scores(tokens, mask)
            known = [t for t in tokens if self._bm25 is not None and t in self._bm25.vocab_dict]
            if known and self._n_main:
                weight = self._alive[:self._n_main] if mask is None else (self._alive & mask)[:self._n_main]
                docs, scores = self._bm25.retrieve(
                    [known], k=min(k, self._n_main), show_progress=False, n_threads=1,
                    weight_mask=None if weight.all() else weight.astype(np.float32),
                )
                found += [(int(d), float(s)) for d, s in zip(docs[0], scores[0])]
            found.sort(key=lambda pair: -pair[1])
            return [(self._ids[n], s) for n, s in found[:k] if s > 0]


def _position(value: Any) -> int:
    return int(value) if str(value).lstrip("-").isdigit() else -1
