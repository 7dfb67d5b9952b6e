"""Typed value objects that cross module boundaries: Article, Chunk, Passage, Citation, Retrieved, Answer,
IngestReport.

The CLI, the UI, the REST API and evaluation all consume these; nobody parses rendered text back.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Article:
    """One news article after loading and cleaning."""

    article_id: str
    title: str
    text: str
    source: str  # file path as ingested, or the record's url / source
    published: date | None = None
    url: str | None = None
    language: str | None = None

    @property
    def content_hash(self) -> str:
        """Hash of everything that ends up in the index; a change means the article is replaced."""
        published = self.published.isoformat() if self.published else ""
        return content_hash("\x1f".join([self.title, published, self.url or "", self.source, self.text]))


@dataclass(frozen=True)
class Chunk:
    """A piece of an article, the unit that is embedded and retrieved."""

    chunk_id: str
    article_id: str
    text: str
    position: int
    title: str
    source: str
    published: date | None
    language: str | None
    url: str | None
    article_hash: str

    def metadata(self) -> dict[str, Any]:
        """Flat metadata for the vector store (Chroma accepts str/int/float/bool only)."""
        return {
            "article_id": self.article_id,
            "position": self.position,
            "title": self.title,
            "source": self.source,
            "published": self.published.isoformat() if self.published else "",
            # Numbers allow range filters in Chroma: YYYYMMDD, 0 when unknown.
            "published_int": int(self.published.strftime("%Y%m%d")) if self.published else 0,
            "language": self.language or "",
            "url": self.url or "",
            "article_hash": self.article_hash,
        }

    @classmethod
    def from_metadata(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> "Chunk":
        published = meta.get("published") or ""
        return cls(
            chunk_id=chunk_id,
            article_id=str(meta.get("article_id", "")),
            text=text,
            position=int(meta.get("position", 0)),
            title=str(meta.get("title", "")),
            source=str(meta.get("source", "")),
            published=date.fromisoformat(published) if published else None,
            language=meta.get("language") or None,
            url=meta.get("url") or None,
            article_hash=str(meta.get("article_hash", "")),
        )


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its score and its number in the prompt (1-based)."""

    n: int
    chunk: Chunk
    score: float
    # The chunk text with partial dates resolved against the publication date, as shown to the LLM.
    display_text: str = ""
    # The title as shown to the LLM and checked as support: planted instructions taken out ("" = the chunk's title).
    display_title: str = ""
    # Which searches found it: "dense", "keyword" or "dense+keyword" ("" when unknown).
    matched_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "n": self.n,
            "article_id": c.article_id,
            "chunk_id": c.chunk_id,
            "title": c.title,
            "source": c.source,
            "url": c.url,
            "published": c.published.isoformat() if c.published else None,
            "language": c.language,
            "score": round(self.score, 4),
            "matched_by": self.matched_by,
            "text": c.text,
        }


@dataclass(frozen=True)
class Citation:
    """A `[n]` in the answer that points at a passage the model was given."""

    n: int
    passage: Passage
    quote: str  # the sentence of the passage (or its headline) that best supports the claim

    def to_dict(self) -> dict[str, Any]:
        c = self.passage.chunk
        return {
            "n": self.n,
            "article_id": c.article_id,
            "title": c.title,
            "source": c.source,
            "url": c.url,
            "published": c.published.isoformat() if c.published else None,
            "language": c.language,
            "text": c.text,
            "quote": self.quote,
        }


@dataclass(frozen=True)
class Retrieved:
    """The passages an answer is drawn from, numbered as the model is shown them (the model reads their
    `display_text` and `display_title`). `stream_events` yields it before the model's first token, so a page
    can show what is being read while the model reads it: on 2 CPU cores the first token takes seconds, the
    search a tenth of a second (seconds where questions are translated first). `reading`: whether the model is
    asked at all (False when there are no passages, or none can speak of the period the question names: the
    answer then abstains)."""

    passages: tuple[Passage, ...]
    reading: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"reading": self.reading, "passages": [p.to_dict() for p in self.passages]}


@dataclass
class Answer:
    """What every front end shows: the answer text, whether it abstained, its citations and passages."""

    question: str
    as_of: date | None
    text: str
    abstained: bool
    citations: list[Citation]
    passages: list[Passage]
    timings_ms: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    raw_text: str = ""  # the model's output before citation checking
    dropped_citations: list[int] = field(default_factory=list)  # numbers the model invented
    # (cited, replacement): citations moved to the passage that supports the sentence clearly better;
    # (cited, None): citations removed because no passage supports the sentence
    repointed_citations: list[tuple[int, int | None]] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)  # {"prompt", "completion"} when the LLM reports them
    standalone_question: str | None = None  # a follow-up rewritten to stand alone, when it was rewritten
    # how sure the model was, from its token probabilities when the LLM reports them (qa/answer/confidence.py); kept
    # in evaluation results, not in the JSON: no threshold on them separated right answers from guesses
    confidence: dict[str, float] = field(default_factory=dict)
    token_logprobs: list[tuple[str, float]] = field(default_factory=list)  # the reply's tokens, for evaluation

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "models": dict(self.models),
            "tokens": dict(self.tokens),
            "raw_answer": self.raw_text,
            "dropped_citations": list(self.dropped_citations),
            "repointed_citations": [list(pair) for pair in self.repointed_citations],
        }


@dataclass(frozen=True)
class FileResult:
    """What happened to one input file (or one record, for JSON lines)."""

    path: str
    status: str  # "added", "unchanged", "replaced", "failed"
    articles: int = 0
    chunks: int = 0
    error: str | None = None
    line: int | None = None


@dataclass
class IngestReport:
    """Summary of one ingestion run."""

    added: int = 0
    unchanged: int = 0
    replaced: int = 0
    failed: int = 0
    chunks_written: int = 0
    seconds: float = 0.0
    files: list[FileResult] = field(default_factory=list)
    # Articles that went in without a publication date (none given, or unreadable): every as-of date lets them
    # through and their relative dates stay unresolved. "source (article id)", in the order read.
    undated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.unchanged} unchanged, {self.replaced} replaced, {self.failed} failed; "
            f"{self.chunks_written} chunks written in {self.seconds:.1f} s"
        )
