"""QAService: the Python API that the CLI, the UI and evaluation all use."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Iterator

from qa.retrieve.dates import parse_as_of
from qa.errors import IndexMissingError, InputError
from qa.settings import Recipe, Settings
from qa.types import Answer, IngestReport, Retrieved

MAX_QUESTION_CHARS = 1000
# Chunks written to the store per step of an ingest (8 embedding batches): a crash loses at most one step's work.
INGEST_BATCH = 128
MAX_OPTIONS, MAX_OPTION_CHARS = 10, 200


def check_question(question: str) -> str:
    text = (question or "").strip()
    if not text:
        raise InputError("the question is empty; type a question about the articles")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(
            f"the question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. Shorten it."
        )
    return text


def check_options(options: Iterable[str] | None) -> tuple[str, ...]:
    """The possible answers of a multiple-choice question, stripped; an empty or overlong one is an error."""
    if isinstance(options, str):
        raise InputError("options must be a list of possible answers, not one string")
    found = tuple(" ".join(str(o).split()) for o in options or ())
    if len(found) > MAX_OPTIONS:
        raise InputError(f"{len(found)} options given; the limit is {MAX_OPTIONS}. Keep the likely ones.")
    for i, option in enumerate(found, start=1):
        if not option:
            raise InputError(f"option {i} is empty; give each option as text, or leave the options out")
        if len(option) > MAX_OPTION_CHARS:
            raise InputError(f"option {i} is {len(option)} characters long; the limit is {MAX_OPTION_CHARS}")
        if ";" in option:
            raise InputError(f"option {i} holds a ';', which separates the options the model is shown; rephrase it")
    return found


class QAService:
    """Ingest articles and answer questions with cited passages.

    Real models and Chroma are built from settings on first use; tests pass fakes for any collaborator.
    """

    def __init__(
        self,
        index_dir: str | Path | None = None,
        *,
        settings: Settings | None = None,
        recipe: Recipe | None = None,
        embeddings: Any = None,
        llm: Any = None,
        store: Any = None,
        scorer: Any = None,
        keyword: Any = None,
        reranker: Any = None,
        progress: bool = False,
    ) -> None:
        settings = settings or Settings()
        if index_dir is not None:
            settings = settings.model_copy(update={"index_dir": Path(index_dir)})
        self.settings = settings
        self.recipe = recipe or Recipe()
        self._embeddings = embeddings
        self._llm = llm
        self._store = store
        self._owns_store = store is None
        self._keyword = keyword
        self._pending = None
        self._reranker = reranker
        self._scorer = scorer
        self._chain = None
        self.progress = progress

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> "QAService":
        return cls(settings=settings, **kwargs)

    # -- components, built lazily -------------------------------------------------------------
    @property
    def embeddings(self):
        if self._embeddings is None:
            from qa.factory import build_embeddings

            self._embeddings = build_embeddings(self.settings, self.recipe)
        return self._embeddings

    @property
    def llm(self):
        if self._llm is None:
            from qa.factory import build_llm

            self._llm = build_llm(self.settings)
        return self._llm

    @property
    def store(self):
        if self._store is None:
            from qa.factory import build_store

            self._store = build_store(self.settings, self.embeddings)
        return self._store

    @property
    def keyword(self):
        """The BM25 index next to the store (None when the recipe leaves keyword search out). Built from the store
        when missing."""
        if not self.recipe.keyword:
            return None
        if self._keyword is None:
            from vectorstore.keyword import KeywordIndex

            # Kept on disk next to the Chroma files; in memory when the caller passed its own store.
            folder = self.settings.index_dir / "keyword" / self.settings.collection if self._owns_store else None
            self._keyword = KeywordIndex(folder)
            self._keyword.sync(self.store, pending=self.pending)
        return self._keyword

    @property
    def pending(self):
        """Ingest batches searchable by keyword whose vectors are not in the store yet (vectorstore/pending.py):
        on disk next to the keyword index, in memory when the caller passed its own store."""
        if self._pending is None:
            from vectorstore.pending import PendingRecords

            folder = self.settings.index_dir / "pending" / self.settings.collection if self._owns_store else None
            self._pending = PendingRecords(folder)
        return self._pending

    def _reading_store(self):
        """The store as questions read it: with the pending batches' records when keyword search is on."""
        if self.keyword is None:
            return self.store
        from vectorstore.base import embed_records
        from vectorstore.pending import WithPending

        return WithPending(self.store, self.pending, embed=lambda records: embed_records(self.embeddings, records, for_query=True))

    @property
    def chain(self):
        if self._chain is None:
            from qa.answer.chain import AnswerChain
            from qa.answer.citations import embedding_scorer
            from qa.factory import build_retriever
            from qa.retrieve.translate import QueryTranslator

            s, recipe = self.settings, self.recipe
            reranker = self._reranker
            if reranker is None and s.reranker_model:
                from qa.retrieve.rerank import CrossEncoderReranker

                reranker = CrossEncoderReranker(s.reranker_model)
            retriever = build_retriever(s, self._reading_store(), self.embeddings, self.keyword, recipe=recipe, reranker=reranker,
                                        translator=QueryTranslator(self.llm) if s.translate_queries else None)
            scorer = self._scorer or embedding_scorer(self.embeddings)
            # The passages get what the context window leaves after the instructions, question and answer.
            budget = max(500, s.llm_context - s.llm_max_tokens - 400)
            checks = recipe.checks
            self._chain = AnswerChain(retriever, self.llm, scorer=scorer, models=self.model_names(),
                                      prompt_style=recipe.prompt_style, verify=checks, passage_budget=budget,
                                      check_coverage=checks, check_figures=checks, check_terms=checks,
                                      period_filter=checks, second_look=recipe.second_look)
        return self._chain

    def model_names(self) -> dict[str, str]:
        return {"embedding": Path(self.settings.embedding_model).name, "llm": Path(self.settings.llm_model).name}

    # -- use cases -------------------------------------------------------------------------------
    def ingest(self, paths: Iterable[str | Path], *, web: Any = None) -> IngestReport:
        """Files, folders and URLs (pages, feeds) into the index. `web`: the WebLoader for URLs (default: one under
        the settings' fetch policy)."""
        from qa.ingest.chunking import Chunker
        from qa.ingest.pipeline import Ingestor

        chunker = Chunker(self.settings.chunk_size, self.settings.chunk_overlap, self.recipe.splitter)
        loader = web or self.web_loader()
        staging = None
        if self.keyword is not None:  # each batch is searchable by keyword before its vectors are computed
            from vectorstore.pending import KeywordFirst

            staging = KeywordFirst(self.keyword, self.pending)
        ingestor = Ingestor(self.store, chunker, batch_size=INGEST_BATCH, progress=self.progress,
                            document_template=self.recipe.document_template, web=loader, staging=staging)
        try:
            return ingestor.ingest(list(paths))
        finally:
            if web is None:
                loader.fetcher.close()
            self._sync_keyword()  # even after a failure: the keyword index matches what the store holds
            if self.keyword is not None:
                self.keyword.compact(self.store, pending=self.pending)  # a rebuild when the journal grew long

    def web_loader(self):
        """The loader of URLs (pages and feeds) under the settings' fetch policy."""
        from qa.ingest.loaders import make_article
        from qa.ingest.web import Fetcher, FetchPolicy, WebLoader

        s = self.settings
        policy = FetchPolicy(private=s.url_private != "refuse", robots=s.url_robots)
        return WebLoader(Fetcher(policy), make_article)

    def _sync_keyword(self) -> None:
        keyword = self.keyword  # built and synced on first use; a no-op check right after
        if keyword is not None:
            keyword.sync(self.store, pending=self.pending)

    def _ready(self) -> None:
        if self.store.count() == 0:
            raise IndexMissingError(
                f"the index at {self.settings.index_dir} holds no articles yet; run `newsqa ingest PATH` first"
            )

    def _prepare(self, question, as_of, filters, history):
        from qa.answer.followup import condense_question
        from qa.retrieve.retriever import Filters

        text = check_question(question)
        when = parse_as_of(as_of)
        limits = filters if isinstance(filters, Filters) or filters is None else Filters.from_dict(filters)
        self._ready()
        standalone = condense_question(self.llm, history, text, self.settings.condense_mode) if history else text
        return text, standalone, when, limits

    def ask(
        self,
        question: str,
        as_of: str | date | None = None,
        k: int | None = None,
        *,
        filters: Any = None,
        history: list[dict] | None = None,
        options: Iterable[str] | None = None,
    ) -> Answer:
        """Answer one question. `history` ([{"role", "content"}, ...]) makes it a follow-up: it is rewritten
        into a standalone question first. `filters`: a Filters or {"date_from", "date_to", "sources",
        "languages"}. `options`: possible answers (a multiple-choice question): they are searched with the
        question, shown to the model after it, and the reply names the one the passages support."""
        choices = check_options(options)
        text, standalone, when, limits = self._prepare(question, as_of, filters, history)
        answer = self.chain.invoke(standalone, when, k, filters=limits, options=choices)
        answer.question, answer.standalone_question = text, standalone if standalone != text else None
        return answer

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[str | Answer]:
        """Yield answer tokens, then the finished Answer: `stream_events` (same arguments) without the
        Retrieved."""
        return (item for item in self.stream_events(*args, **kwargs) if not isinstance(item, Retrieved))

    def stream_events(
        self,
        question: str,
        as_of: str | date | None = None,
        k: int | None = None,
        *,
        filters: Any = None,
        history: list[dict] | None = None,
        options: Iterable[str] | None = None,
    ) -> Iterator[Retrieved | str | Answer]:
        """A Retrieved once the search is done, then answer tokens, then the finished Answer (what the chat page
        and the REST API's stream send; `options`: see `ask`)."""
        choices = check_options(options)
        text, standalone, when, limits = self._prepare(question, as_of, filters, history)
        for item in self.chain.stream_events(standalone, when, k, filters=limits, options=choices):
            if isinstance(item, Answer):
                item.question, item.standalone_question = text, standalone if standalone != text else None
            yield item

    def validate(self, question: str, as_of: str | date | None = None, options: Iterable[str] | None = None) -> None:
        """Raise the error `ask` would raise for this input before any model runs (for streaming edges)."""
        check_question(question)
        check_options(options)
        parse_as_of(as_of)
        self._ready()

    def loaded(self) -> dict[str, bool]:
        """Which models are loaded in this process."""
        return {"embeddings": self._embeddings is not None, "llm": self._llm is not None}

    def delete_article(self, article_id: str) -> int:
        ids = self.store.ids(where={"article_id": article_id})
        self.store.delete(ids)
        if self.keyword is not None:
            self.keyword.apply([], ids)
        self._sync_keyword()
        return len(ids)

    def stats(self) -> dict[str, Any]:
        """Articles, chunks, languages and the date span of the index."""
        metas = self.store.metadata()
        articles: dict[str, dict[str, Any]] = {}
        for _id, meta in metas:
            articles.setdefault(str(meta.get("article_id")), meta)
        dates = sorted(m["published"] for m in articles.values() if m.get("published"))
        return {
            "articles": len(articles),
            "chunks": len(metas),
            "languages": dict(Counter(m.get("language") or "unknown" for m in articles.values())),
            "date_span": [dates[0], dates[-1]] if dates else None,
        }

    def article(self, article_id: str) -> dict[str, Any] | None:
        """One article: its metadata and its text, rebuilt from its chunks in order with the overlap between
        consecutive chunks taken out (None: no such article)."""
        records = sorted(self.store.get(self.store.ids(where={"article_id": article_id})),
                         key=lambda r: int(r.metadata.get("position", 0)))
        if not records:
            return None
        text = records[0].text
        for record in records[1:]:
            text += _without_overlap(text, record.text)
        meta = records[0].metadata
        return {"article_id": article_id, "title": meta.get("title"), "source": meta.get("source"),
                "url": meta.get("url") or None, "published": meta.get("published") or None,
                "language": meta.get("language") or None, "text": text}

    def articles(self) -> list[dict[str, Any]]:
        """One row per article: id, title, source, published, language, chunks."""
        rows: dict[str, dict[str, Any]] = {}
        for _id, meta in self.store.metadata():
            aid = str(meta.get("article_id"))
            row = rows.setdefault(aid, {"article_id": aid, "title": meta.get("title"), "source": meta.get("source"),
                                        "published": meta.get("published") or None,
                                        "language": meta.get("language") or None, "chunks": 0})
            row["chunks"] += 1
        return sorted(rows.values(), key=lambda r: (r["published"] or "", r["article_id"]), reverse=True)


def _without_overlap(before: str, after: str, longest: int = 400) -> str:
    """`after` less the start it shares with the end of `before` (chunks overlap by up to chunk_overlap
    characters), with a space where nothing was shared."""
    for size in range(min(longest, len(before), len(after)), 9, -1):
        if before.endswith(after[:size]):
            return after[size:]
    return " " + after
