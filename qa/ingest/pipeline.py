"""Ingestion: files -> Articles -> Chunks -> embedded records in the store, idempotently.

Guarantee: an article's chunk ids are derived from its content. A re-run compares the ids in the store
with the ids the article should have: equal sets mean "unchanged" (no work); otherwise the missing chunks
are written first and the stale ones deleted after, so a crash at any point leaves old or new chunks that
the next run completes, never duplicates.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from qa.ingest.chunking import Chunker
from qa.errors import ConfigError, LoadError
from qa.ingest.loaders import iter_files, load_file
from qa.types import Article, Chunk, FileResult, IngestReport
from vectorstore.base import DimensionMismatch, Record, VectorStore


def encoder_text(chunk: Chunk, template: str | None) -> str | None:
    """What the encoder sees for a chunk: the template filled with its title ('none' when untitled) and text;
    None (the bare chunk text with the model's own prompt) without a template."""
    if not template:
        return None
    title = " ".join((chunk.title or "").split()) or "none"
    return template.format(title=title, text=chunk.text)


class _Stored:
    """The chunk ids the store holds per article, read as needed: one metadata query per article for the first
    `lookups` articles (a feed poll of a few items costs milliseconds, where reading every chunk's metadata took
    seconds at 38k chunks), then all at once (a bulk ingest)."""

    lookups = 32

    def __init__(self, store: VectorStore) -> None:
        self.store = store
        self.known: dict[str, set[str]] = {}
        self.asked = 0
        self.complete = False

    def get(self, article_id: str, default: set[str]) -> set[str]:
        if article_id not in self.known and not self.complete:
            self.asked += 1
            if self.asked > self.lookups:
                everything: dict[str, set[str]] = defaultdict(set)
                for chunk_id, meta in self.store.metadata():
                    everything[str(meta.get("article_id", ""))].add(chunk_id)
                self.known = {**everything, **self.known}  # this run's own plans stand
                self.complete = True
            else:
                self.known[article_id] = set(self.store.ids(where={"article_id": article_id}))
        return self.known.get(article_id, default)

    def __setitem__(self, article_id: str, ids: set[str]) -> None:
        self.known[article_id] = ids


@dataclass
class _Pending:
    chunks: list[Chunk] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)


class Ingestor:
    """Loads, chunks and writes articles into a VectorStore."""

    def __init__(
        self,
        store: VectorStore,
        chunker: Chunker,
        *,
        batch_size: int = 64,
        progress: bool = True,
        document_template: str | None = None,
        web=None,
        staging=None,
    ) -> None:
        # A KeywordFirst (vectorstore/pending.py): each batch is searchable by keyword before it is embedded.
        self.staging = staging
        self.web = web  # a WebLoader for URLs (qa/ingest/web.py); None: URLs are refused
        self.store = store
        self.chunker = chunker
        self.document_template = document_template
        self.batch_size = batch_size
        self.progress = progress

    def _flush(self, pending: _Pending, report: IngestReport) -> None:
        records = [self._record(c) for c in pending.chunks]
        writing = {r.id for r in records}
        deletes = [i for i in pending.deletes if i not in writing]  # never delete what this batch just wrote
        staged = self.staging.stage(records, deletes) if self.staging is not None and (records or deletes) else None
        try:
            if records:
                try:
                    self.store.upsert(records)
                except DimensionMismatch as exc:
                    raise ConfigError(str(exc)) from exc
                report.chunks_written += len(records)
            if deletes:
                self.store.delete(deletes)
        except BaseException:
            if staged is not None:
                self.staging.done(staged)  # an error, not a crash: forgotten; the caller re-syncs the keyword index
            raise
        if staged is not None:
            self.staging.done(staged)
        pending.chunks.clear()
        pending.deletes.clear()

    def _record(self, chunk: Chunk) -> Record:
        embed_text = encoder_text(chunk, self.document_template)
        return Record(chunk.chunk_id, chunk.text, chunk.metadata(), embed_text=embed_text)

    def ingest(self, paths: Iterable[str | Path]) -> IngestReport:
        start = time.perf_counter()
        report = IngestReport()
        if self.staging is not None:
            report.chunks_written += self.staging.recover(self.store)  # what a crashed writer left staged
        existing = _Stored(self.store)
        pending = _Pending()
        seen: dict[str, str] = {}  # article id -> where it was read in this run
        items = list(iter_files(paths))
        bar = self._bar(_expected_articles(items))
        for item in items:
            if isinstance(item, LoadError):
                report.failed += 1
                report.files.append(FileResult(item.path, "failed", error=item.reason, line=item.line))
                continue
            counts = defaultdict(int)
            n_chunks = 0
            for loaded in self._load(item):
                if isinstance(loaded, LoadError):
                    report.failed += 1
                    report.files.append(FileResult(loaded.path, "failed", error=loaded.reason, line=loaded.line))
                    if bar is not None:
                        bar.update(1)
                    continue
                if loaded.article_id in seen:
                    if bar is not None:
                        bar.update(1)
                    # Two records with one id: keeping both would make the second replace the first.
                    report.failed += 1
                    report.files.append(FileResult(str(item), "failed", error=(
                        f"duplicate article id {loaded.article_id!r} (already read from {seen[loaded.article_id]}); "
                        "the first one was kept: give each article its own id")))
                    continue
                seen[loaded.article_id] = str(item)
                if loaded.published is None:
                    report.undated.append(f"{loaded.source} ({loaded.article_id})")
                status, written = self._plan(loaded, existing, pending)
                counts[status] += 1
                n_chunks += written
                setattr(report, status, getattr(report, status) + 1)
                if len(pending.chunks) >= self.batch_size:
                    self._flush(pending, report)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(chunks=report.chunks_written + len(pending.chunks), failed=report.failed)
            if counts:
                status = next(s for s in ("replaced", "added", "unchanged") if counts.get(s))
                report.files.append(FileResult(str(item), status, articles=sum(counts.values()), chunks=n_chunks))
        self._flush(pending, report)
        if bar is not None:
            bar.close()
        report.seconds = time.perf_counter() - start
        return report

    def _load(self, item):
        """The articles (or LoadErrors) of one input: a file, a URL of a page or a feed, or what a URL gave."""
        from qa.ingest.web import Preloaded

        if isinstance(item, Preloaded):
            return iter(item.items)
        if isinstance(item, str):
            if self.web is None:
                return iter([LoadError(item, "URLs are not read by this ingestor")])
            return self.web.load(item)
        return load_file(item)

    def _plan(self, article: Article, existing: _Stored, pending: _Pending) -> tuple[str, int]:
        """Queue the writes one article needs; return its status and how many chunks it queued."""
        chunks = self.chunker.split(article)
        wanted = {c.chunk_id for c in chunks}
        stored = existing.get(article.article_id, set())
        if stored == wanted:
            return "unchanged", 0
        new = [c for c in chunks if c.chunk_id not in stored]
        stale = stored - wanted
        pending.chunks.extend(new)
        pending.deletes.extend(sorted(stale))
        existing[article.article_id] = wanted
        # Stale chunks of an older version mean a replacement; a subset of the wanted ids is a resumed add.
        return ("replaced" if stale else "added"), len(new)

    def _bar(self, total: int | None = None):
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(desc="ingest", unit="article", total=total, file=sys.stderr, dynamic_ncols=True)


def _expected_articles(items: list) -> int | None:
    """How many articles the inputs hold, for the progress bar's total and time left: one per text or HTML
    file, one per non-blank JSON line; None when a .json file (one record or a list) makes it unknown."""
    total = 0
    for item in items:
        if isinstance(item, LoadError):
            continue
        if not isinstance(item, Path):  # a URL: a page, or a feed of unknown length
            return None
        suffix = item.suffix.lower()
        if suffix == ".json":
            return None
        if suffix != ".jsonl":
            total += 1
            continue
        try:
            with item.open("rb") as fh:
                total += sum(1 for line in fh if line.strip())
        except OSError:
            total += 1  # the loader names the problem
    return total
