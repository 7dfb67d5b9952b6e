"""A BM25 keyword index (bm25s) kept next to the vector store and derived from it.

The vector store is the source of truth. The keyword index records which ids it was built from; `sync(store)`
rebuilds it whenever the store holds a different set (after an ingest, a delete, or a crash between the two
writes), so both indexes always describe the same chunks. Rebuilding needs no embedding and takes seconds
even for tens of thousands of chunks. On disk the index is replaced atomically (write aside, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vectorstore.base import Record, VectorStore
from vectorstore.filters import as_columns, column_mask

FILTER_KEYS = ("published_int", "language", "source", "article_id")
# Also kept per chunk: where it sits in its article, so a passage's neighbours are found by id (`chunk_at`)
# instead of by a metadata query to the store (188 ms at 100k chunks in Chroma's SQLite, bench/RESULTS.md).
PLACE_KEYS = ("article_hash", "position")
KEPT_KEYS = FILTER_KEYS + PLACE_KEYS
_WORD = re.compile(r"\w+", re.UNICODE)
_STEMMERS = {"en": "english", "fr": "french", "es": "spanish", "de": "german", "it": "italian",
             "pt": "portuguese", "nl": "dutch", "sv": "swedish", "da": "danish", "no": "norwegian",
             "ru": "russian", "fi": "finnish", "ro": "romanian", "ca": "catalan", "tr": "turkish"}


def has_stemmer(language: str | None) -> bool:
    """Whether `analyze` stems words of this language (the languages written with spaces between words that
    Snowball covers)."""
    return isinstance(language, str) and language.split("-")[0].lower() in _STEMMERS


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s import stopwords as sw

    names = ("STOPWORDS_EN", "STOPWORDS_FRENCH", "STOPWORDS_SPANISH", "STOPWORDS_GERMAN", "STOPWORDS_ITALIAN",
             "STOPWORDS_PORTUGUESE", "STOPWORDS_DUTCH")
    return frozenset(_fold(w) for name in names for w in getattr(sw, name, ()))


@lru_cache(maxsize=32)
def _stemmer(language: str | None):
    name = _STEMMERS.get((language or "").split("-")[0].lower())
    if name is None:
        return None
    import Stemmer

    return Stemmer.Stemmer(name)


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def analyze(text: str, language: str | None = None) -> list[str]:
    """Lower-cased words without stopwords, stemmed in `language` when a stemmer exists, accents folded."""
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]
    stops = _stopwords()
    words = [w for w in words if _fold(w) not in stops]
    stemmer = _stemmer(language if isinstance(language, str) else None)  # a stray non-string: no stemming
    if stemmer is not None:
        words = stemmer.stemWords(words)
    return [_fold(w) for w in words]


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

    def __init__(self, folder: str | Path | None = None, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.folder = Path(folder) if folder else None
        self.k1, self.b = k1, b
        self._lock = threading.RLock()
        self._ids: list[str] = []
        self._columns: dict[str, np.ndarray] = {}
        self._languages: list[tuple[str, float]] = []
        self._digest = ids_digest([])
        self._bm25: Any = None
        # (inode, mtime in ns) of the manifest last read or written: a save renames a new file into place
        self._loaded_mtime: tuple[int, int] | None = None
        self._places: dict[tuple[str, str, int], str] | None = None  # built on the first `chunk_at`
        self._rows: dict[str, int] | None = None  # id -> row, built on the first `matching`

    # -- state ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    @property
    def digest(self) -> str:
        return self._digest

    def languages(self, most: int = 3, min_share: float = 0.0) -> list[str]:
        """The most common chunk languages, most frequent first, that hold at least `min_share` of the chunks
        (the query is analysed in each); counted once per build or load, not per question."""
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

    def load(self) -> bool:
        """Read the saved index; False when there is none or it is unreadable (then `sync` rebuilds it)."""
        manifest = self._manifest()
        if manifest is None or not manifest.is_file():
            return False
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            if data["rows"] and any(key not in data["rows"][0] for key in KEPT_KEYS):
                return False  # saved by an older version without the chunks' places: `sync` rebuilds it
            bm25 = None
            if data["ids"]:
                import bm25s

                bm25 = bm25s.BM25.load(str(self.folder / "bm25"), show_progress=False)
            with self._lock:
                self._ids = list(data["ids"])
                self._columns = as_columns(data["rows"], KEPT_KEYS)
                self._places = self._rows = None
                self._languages = self._count_languages(self._columns)
                self._digest = data["digest"]
                self._bm25 = bm25
                self._loaded_mtime = _stamp(manifest)
            return True
        except (OSError, ValueError, KeyError):
            return False

    def _changed_on_disk(self) -> bool:
        manifest = self._manifest()
        if manifest is None:
            return False
        try:
            return _stamp(manifest) != self._loaded_mtime
        except OSError:
            return False

    # -- building ------------------------------------------------------------------------------
    def build(self, records: Sequence[Record]) -> None:
        """Index these records (replacing whatever was indexed) and save. The slow part runs without the lock;
        searches go on against the previous index until the new one is swapped in."""
        import bm25s

        ids = [r.id for r in records]
        bm25 = None
        if records:
            tokens = [analyze(r.text + " " + str(r.metadata.get("title") or ""), r.metadata.get("language"))
                      for r in records]
            bm25 = bm25s.BM25(k1=self.k1, b=self.b)
            bm25.index([t or ["\u2400"] for t in tokens], show_progress=False)
        rows = [{k: r.metadata.get(k) for k in KEPT_KEYS} for r in records]
        columns = as_columns(rows, KEPT_KEYS)
        with self._lock:
            self._ids, self._bm25, self._columns = ids, bm25, columns
            self._places = self._rows = None
            self._languages = self._count_languages(columns)
            self._digest = ids_digest(ids)
            self._save(rows)

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
        payload = {"digest": self._digest, "ids": self._ids, "rows": rows}
        (staging / "manifest.json").write_text(json.dumps(payload), encoding="utf-8")
        old = parent / f".{self.folder.name}.old-{os.getpid()}"
        if self.folder.exists():
            os.replace(self.folder, old)
        os.replace(staging, self.folder)
        shutil.rmtree(old, ignore_errors=True)
        self._loaded_mtime = _stamp(self.folder / "manifest.json")

    def matching(self, ids: Sequence[str], where: dict[str, Any]) -> list[bool] | None:
        """For each id, whether its chunk matches `where`, evaluated on the columns kept here, in memory. None
        ("cannot tell": the caller reads the store's metadata instead) when an id is not held here (the store
        has chunks this index has not been synced with yet: another process is ingesting, or one was killed
        between its two writes), when `where` names a key not kept here, or when the filter cannot be evaluated
        on these columns (an unknown operator, a column of mixed types)."""
        if not _keys(where) <= set(KEPT_KEYS):
            return None
        with self._lock:
            if self._rows is None:
                self._rows = {i: n for n, i in enumerate(self._ids)}
            rows = [self._rows.get(i) for i in ids]
            if any(n is None for n in rows):
                return None
            picked = np.asarray(rows, dtype=np.int64)
            columns = {key: column[picked] for key, column in self._columns.items()}
        try:
            return [bool(hit) for hit in column_mask(columns, len(rows), where)]
        except (TypeError, ValueError):
            return None

    def ids_where(self, where: dict[str, Any]) -> list[str] | None:
        """Every id held here whose chunk matches `where`, from the columns in memory; None when `where` names a
        key not kept here or cannot be evaluated on these columns (as for `matching`). Chunks the store has and
        this index has not been synced with yet are not listed."""
        if not _keys(where) <= set(KEPT_KEYS):
            return None
        with self._lock:
            ids, columns = self._ids, self._columns
        try:
            mask = column_mask(columns, len(ids), where)
        except (TypeError, ValueError):
            return None
        return [ids[n] for n in np.flatnonzero(mask)]

    def chunk_at(self, article_id: str, article_hash: str, position: int) -> str | None:
        """The id of the chunk at `position` of that version of the article, None if the index holds none."""
        with self._lock:
            if self._places is None:
                columns = self._columns
                self._places = {(str(a), str(h), int(p) if str(p).lstrip("-").isdigit() else -1): i
                                for i, a, h, p in zip(self._ids, columns["article_id"], columns["article_hash"],
                                                      columns["position"])}
            return self._places.get((str(article_id), str(article_hash), int(position)))

    def sync(self, store: VectorStore, *, force: bool = False) -> bool:
        """Make the index describe exactly the store's records; True when it had to rebuild."""
        ids = store.ids()
        with self._lock:
            if not force:
                if self._loaded_mtime is None or self._changed_on_disk():
                    self.load()
                if ids_digest(ids) == self._digest:
                    return False
        records: list[Record] = []
        for start in range(0, len(ids), 5000):
            records.extend(store.get(ids[start:start + 5000]))
        self.build(records)
        return True

    def refresh(self) -> None:
        """Cheap per-query check: reload when another process saved a newer index. (Writers in this process
        call `sync` after each ingest or delete; a store changed by a crashed writer is caught by the next
        `sync`, at the latest when a service opens the index.)"""
        with self._lock:
            if self._changed_on_disk():
                self.load()

    # -- searching -----------------------------------------------------------------------------
    def search(self, tokens: Sequence[str], k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """The k best (id, BM25 score) pairs for these query tokens among records matching `where`."""
        with self._lock:
            if self._bm25 is None or not tokens or k < 1:
                return []
            known = [t for t in tokens if t in self._bm25.vocab_dict]
            if not known:
                return []
            mask = column_mask(self._columns, len(self._ids), where) if where else None
            if mask is not None and not mask.any():
                return []
            k = min(k, len(self._ids))
            docs, scores = self._bm25.retrieve(
                [known], k=k, show_progress=False, n_threads=1,
                weight_mask=mask.astype(np.float32) if mask is not None else None,
            )
            return [(self._ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]
