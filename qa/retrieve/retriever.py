"""Hybrid retrieval: dense search in the VectorStore and BM25 in the KeywordIndex, fused by reciprocal rank,
with the as-of date and filters applied to both, and run again among the articles of the question's period (or
of the last days); recency and periods named in the question as ranking signals;
syndicated copies collapsed; an optional reranker; passages widened with the neighbouring sentences that complete
them and shown with planted instructions removed and dates resolved."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable, Sequence

from langchain_core.embeddings import Embeddings

from qa.errors import ConfigError
from qa.retrieve.context import collapse_duplicates, needs_after, needs_before, widen
from qa.retrieve.dates import annotate_dates
from qa.retrieve.fusion import Fusion, cap_per_article, reciprocal_rank_fusion
from qa.retrieve.injection import defang
from qa.retrieve.periods import question_period
from qa.retrieve.rerank import Reranker
from qa.retrieve.scope import (
    Filters,
    as_of_filter,
    published_between,
    question_language,
    wants_recent,
)
from qa.retrieve.translate import QueryTranslator
from qa.types import Chunk, Passage
from vectorstore.base import DimensionMismatch, VectorStore
from vectorstore.analysis import analyze
from vectorstore.keyword import KeywordIndex

# Languages under 1% of the chunks are not translated into (each target costs an LLM call per new question).
TRANSLATE_MIN_SHARE = 0.01


def search_text(question: str, options: Sequence[str] = ()) -> str:
    """What is searched for: the question, then a multiple-choice question's options on a line of their own
    (the passage that answers names the right one). No label: "Options" is a word no article is about."""
    return f"{question}\n" + "; ".join(options) if options else question


def _published(record) -> date | None:
    value = int(record.metadata.get("published_int") or 0)
    return date(value // 10000, value // 100 % 100, value % 100) if value else None


PENDING_SCORED = 8  # of a question's keyword hits, the best this many with pending vectors are embedded for it


@dataclass
class _Found:
    """What one question's searches have found so far: the records, each chunk's best dense similarity, the
    question's vectors (embedded once, searched in several scopes) and the ids keyword search returned."""

    language: str | None
    translations: dict[str, str]
    stages: dict[str, float]
    records: dict = field(default_factory=dict)
    similarity: dict[str, float] = field(default_factory=dict)
    vectors: dict[str, list[float]] = field(default_factory=dict)
    keyword_ids: set[str] = field(default_factory=set)

    def language_of(self, i: str) -> str | None:
        return self.records[i].metadata.get("language") or self.language

    @property
    def covered(self) -> set[str]:
        """The languages keyword search matched the question in: its own and its translations'."""
        return ({self.language} | set(self.translations)) if self.language else set()


class Retriever:
    """Dense search (and BM25 when a keyword index is given) over chunks published by the as-of date, fused by
    reciprocal rank with the same searches scoped to the question's period (or the last days), with recency as an
    extra ranked list (stronger for questions about the latest events); the best k are numbered 1..k."""

    def __init__(
        self,
        store: VectorStore,
        embeddings: Embeddings,
        *,
        k: int = 5,
        # candidates of each search: 60 gained one question (gold Hit@5 0.824 -> 0.835) for +12 ms, 80 or 150
        # lost (RESULTS 2026-12-04, 2d40354; 2026-12-02)
        fetch_k: int = 40,
        resolve_dates: bool = True,
        keyword: KeywordIndex | None = None,
        fusion: Fusion | None = None,
        reranker: Reranker | None = None,
        rerank_top: int = 20,
        screen_instructions: bool = True,
        translator: QueryTranslator | None = None,
        max_per_article: int = 0,
        sentence_window: int = 0,
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.store = store
        self.embeddings = embeddings
        self.k = k
        self.fetch_k = max(fetch_k, k)
        self.resolve_dates = resolve_dates
        self.keyword = keyword
        self.fusion = fusion or Fusion()
        self.reranker = reranker
        self.rerank_top = rerank_top
        self.screen_instructions = screen_instructions
        self.translator = translator
        self.max_per_article = max_per_article
        self.sentence_window = sentence_window

    def _keyword_tokens(self, texts: Sequence[str]) -> list[str]:
        languages = self.keyword.languages() if self.keyword is not None else []
        tokens: list[str] = []
        for text in texts:
            for language in languages or [None]:
                tokens.extend(analyze(text, language))
        return list(dict.fromkeys(tokens))

    def _display(self, chunk: Chunk, text: str | None = None) -> str:
        """The passage text as the LLM sees it (`text`: the chunk widened by its neighbours): planted
        instructions taken out, partial dates resolved."""
        text = chunk.text if text is None else text
        text = defang(text)[0] if self.screen_instructions else text
        return annotate_dates(text, chunk.published) if self.resolve_dates else text

    def _neighbours(self, chosen: Sequence) -> dict[tuple[str, str, int], str]:
        """{(article_id, article_hash, position): text} of the chunks before/after the chosen ones that are needed
        to complete them: found by place in the keyword index (which keeps every chunk's article and position),
        else by one metadata query to the store; then one fetch by id."""
        wanted: list[tuple[str, str, int]] = []  # two passages may need the same neighbour (`get` takes it once)
        for record in chosen:
            meta = record.metadata
            position = int(meta.get("position", 0))
            places = ([position - 1] if position > 0 and needs_before(record.text) else []) + (
                [position + 1] if needs_after(record.text) else [])
            wanted += [(str(meta.get("article_id", "")), str(meta.get("article_hash", "")), p) for p in places]
        if not wanted:
            return {}
        if self.keyword is not None:  # refreshed at the start of `retrieve`
            ids = [i for place in wanted if (i := self.keyword.chunk_at(*place)) is not None]
        else:
            clauses = [{"$and": [{"article_id": a}, {"article_hash": h}, {"position": p}]} for a, h, p in wanted]
            where = clauses[0] if len(clauses) == 1 else {"$or": clauses}
            ids = [i for i, _ in self.store.metadata(where)]
        return {(str(r.metadata.get("article_id", "")), str(r.metadata.get("article_hash", "")),
                 int(r.metadata.get("position", 0))): r.text for r in self.store.get(ids)}

    def article_text(self, chunk: Chunk) -> str:
        """The whole text of the chunk's article (that version's chunks in order), for checks that read beyond one
        passage: a chunk from the middle of a story may name its subject only as "the tournament"."""
        where = {"$and": [{"article_id": chunk.article_id}, {"article_hash": chunk.article_hash}]}
        ids = [i for i, _ in self.store.metadata(where)]
        records = sorted(self.store.get(ids), key=lambda r: int(r.metadata.get("position", 0)))
        return "\n".join(r.text for r in records) or chunk.text

    def _pool(self, fused: dict[str, float], similarity: dict[str, float], size: int, margin: float) -> list[str]:
        """The best `size` fused candidates (best first) whose dense similarity is within `margin` of the best."""
        top = [i for i in sorted(fused, key=lambda i: -fused[i])[:size] if i in similarity]
        best = max((similarity[i] for i in top), default=0.0)
        return [i for i in top if similarity[i] >= best - margin]

    def _boost(self, fused: dict[str, float], ranked: Sequence[str], weight: float) -> None:
        """Add weight / (recency_k + rank) for an extra ranked list (recency, period)."""
        for rank, i in enumerate(ranked, start=1):
            fused[i] += weight / (self.fusion.recency_k + rank)

    def _translations(self, question, language, stages) -> dict[str, str]:
        """{language: the question translated into it} for the corpus's other languages (translator set): those
        holding at least TRANSLATE_MIN_SHARE of the chunks, so a few stray detections in a one-language corpus
        cost no translation. The languages are counted by the keyword index, so without one nothing is
        translated."""
        if self.translator is None or language is None or self.keyword is None:
            return {}
        clock = time.perf_counter()
        found = {}
        for target in self.keyword.languages(min_share=TRANSLATE_MIN_SHARE):
            if target != language and (translated := self.translator.translate(question, target)):
                found[target] = translated
        stages["translate_ms"] = (time.perf_counter() - clock) * 1000
        return found

    def _dense(self, text: str, where, stages, vectors: dict[str, list[float]], *, exact: bool = True) -> list:
        """Dense hits for `text` under `where`; `vectors` keeps each text's embedding for a second search.
        `exact=False` (the date-scoped search): those of the store's nearest candidates that match, however few
        (`partial`): a one-week filter over a large index made Chroma search among the week's ids, ~100 ms at
        100k chunks, where the unfiltered candidates cost ~10 ms and gave realtimeqa the same gold Hit@5."""
        clock = time.perf_counter()
        if (vector := vectors.get(text)) is None:
            vector = vectors[text] = self.embeddings.embed_query(text)
        stages["embed_ms"] = stages.get("embed_ms", 0.0) + (time.perf_counter() - clock) * 1000
        clock = time.perf_counter()
        try:
            if self.keyword is None or where is None or not len(self.keyword):
                hits = self.store.search(vector, k=self.fetch_k, where=where)
            else:
                # the keyword index holds the filter's columns in memory: the store need not read candidates'
                # metadata; for a narrow filter it lists every matching id, while it holds all the store's chunks
                keep = lambda ids: self.keyword.matching(ids, where)  # noqa: E731
                if exact:
                    complete = lambda: len(self.keyword) == self.store.count()  # noqa: E731
                    among = lambda: self.keyword.ids_where(where) if complete() else None  # noqa: E731
                    hits = self.store.search(vector, k=self.fetch_k, where=where, keep=keep, among=among)
                else:
                    hits = self.store.search(vector, k=self.fetch_k, where=where, keep=keep, partial=True)
        except DimensionMismatch as exc:
            raise ConfigError(str(exc)) from exc
        stages["dense_ms"] = stages.get("dense_ms", 0.0) + (time.perf_counter() - clock) * 1000
        return hits

    def _ranked_lists(self, question: str, where, found: _Found, dense_weight: float, keyword_weight: float,
                      *, main: bool = True) -> tuple[list[tuple[float, list[str]]], list[Callable[[str], bool] | None]]:
        """The ranked lists to fuse for one scope of articles (`where`), each with the chunks it applies to:
        dense search for the question and for each translation, BM25 for all of them together. `main`: the
        whole-corpus searches (exact; their times go into the stage timings), else the date-scoped ones."""
        stages = found.stages if main else {}
        lists: list[tuple[float, list[str]]] = []
        applies: list[Callable[[str], bool] | None] = []
        translations = found.translations
        dense: dict[str | None, list[tuple[str, float]]] = {}
        for target, text in {None: question, **translations}.items():
            hits = self._dense(text, where, stages, found.vectors, exact=main)
            for h in hits:  # a chunk's similarity: the best any version of the question gives it
                found.records.setdefault(h.record.id, h.record)
                found.similarity[h.record.id] = max(h.score, found.similarity.get(h.record.id, h.score))
            dense[target] = [(h.record.id, h.score) for h in hits]
            lists.append((dense_weight, [h.record.id for h in hits]))
            # A chunk is judged by the question in its own language: the translation's dense ranking for chunks
            # in that language, the question's for the rest (an English question ranked the French passage
            # that answers "What did Beijing agree to postpone?" 5th, its French translation 1st).
            if not translations:
                applies.append(None)
            elif target is None:
                applies.append(lambda i: found.language_of(i) not in translations)
            else:
                applies.append(lambda i, target=target: found.language_of(i) == target)
        # scoped: only chunks with a dense similarity can pass the margin below, so no others are fetched
        keyword_ids = self._keyword_side([question, *translations.values()], where, found.records, stages,
                                         among=None if main else found.similarity)
        if main and keyword_ids:
            self._place_unembedded(keyword_ids, dense, lists, {None: question, **translations}, found)
        if keyword_ids:
            found.keyword_ids.update(keyword_ids)
            lists.append((keyword_weight, keyword_ids))
            # Keyword search only matches text in the languages the question was searched in (its own and any
            # translation): for chunks in other languages it is no signal, not a miss.
            covered = found.covered
            applies.append((lambda i: found.language_of(i) in covered) if covered else None)
        return lists, applies

    def _place_unembedded(self, keyword_ids, dense, lists, texts, found: _Found) -> None:
        """Keyword hits whose vectors are pending (vectorstore/pending.py) are embedded now and put into each
        dense list where their similarity ranks them, as if the store held their vectors."""
        similar = getattr(self.store, "similarity", lambda vector, ids: {})
        for n, (target, ranked) in enumerate(dense.items()):
            if not (scores := similar(found.vectors[texts[target]], keyword_ids[:PENDING_SCORED])):
                return
            found.similarity.update({i: max(v, found.similarity.get(i, v)) for i, v in scores.items()})
            fresh = [(i, v) for i, v in scores.items() if i not in dict(ranked)]  # stored, not yet marked done
            merged = sorted(ranked + fresh, key=lambda pair: -pair[1])[:self.fetch_k]
            lists[n] = (lists[n][0], [i for i, _ in merged])

    def _window(self, period, as_of: date | None) -> tuple[float, date, date] | None:
        """(weight, first day, last day) of the second, date-scoped search: the question's period (and the
        grace days after it), or, when it names none, the `recent_days` up to the as-of date; None: no second
        search."""
        if period is not None:
            if self.fusion.period_search <= 0:
                return None
            return self.fusion.period_search, period.start, period.end + timedelta(days=self.fusion.period_grace_days)
        if self.fusion.recent_search <= 0 or self.fusion.recent_days < 1:
            return None
        last = as_of or date.today()
        return self.fusion.recent_search, last - timedelta(days=self.fusion.recent_days - 1), last

    def _keyword_side(self, texts, where, records, stages, among=None) -> list[str]:
        """BM25 ids (best first) for the question and its translations; the records of ids dense search did
        not return are fetched into `records`. `among`: only ids in it are kept, and nothing is fetched."""
        if self.keyword is None or self.fusion.keyword <= 0:
            return []
        clock = time.perf_counter()
        found = self.keyword.search(self._keyword_tokens(texts), self.fetch_k, where)
        keyword_ids = [i for i, _ in found if among is None or i in among]
        missing = [i for i in keyword_ids if i not in records]
        records.update({r.id: r for r in self.store.get(missing)})
        stages["keyword_ms"] = (time.perf_counter() - clock) * 1000
        return keyword_ids

    def retrieve(
        self,
        question: str,
        as_of: date | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        *,
        options: Sequence[str] = (),
        timings: dict[str, float] | None = None,
    ) -> list[Passage]:
        k = k or self.k
        search = search_text(question, options)
        stages = timings if timings is not None else {}
        where = as_of_filter(as_of, filters)
        if self.keyword is not None:
            self.keyword.refresh()  # another process may have ingested since: dense search reads its columns
        corpus_languages = self.keyword.languages() if self.keyword is not None else []
        language = question_language(question, corpus_languages) if corpus_languages else None
        translations = self._translations(question, language, stages)
        # A translation is searched with the options too (mostly names, the same in every language).
        found = _Found(language, {t: search_text(text, options) for t, text in translations.items()}, stages)
        lists, applies = self._ranked_lists(search, where, found, self.fusion.dense, self.fusion.keyword)
        period = None
        if self.fusion.period > 0 or self.fusion.period_search > 0:
            clock = time.perf_counter()
            period = question_period(question, as_of, language)
            stages["period_ms"] = (time.perf_counter() - clock) * 1000
        window = self._window(period, as_of)
        if window is not None:
            # The same searches again among the articles of the question's period (or, when it names none, of
            # the last days up to the as-of date), as extra lists: an article of that week that the whole
            # corpus's best `fetch_k` leave out becomes a candidate (the boosts below only reorder candidates).
            clock = time.perf_counter()
            weight, start, end = window
            inside = published_between(start, end)
            scoped = inside if where is None else {"$and": [where, inside]}
            more, more_applies = self._ranked_lists(search, scoped, found, weight, weight, main=False)
            # Like the period boost, only for chunks close to the question: within `period_margin` of the best
            # similarity any search found (an unrelated article of the same week ranks high in a small window).
            floor = max(found.similarity.values(), default=0.0) - self.fusion.period_margin
            more = [(w, [i for i in ids if found.similarity.get(i, floor - 1.0) >= floor]) for w, ids in more]
            lists += more
            applies += more_applies
            stages["window_search_ms"] = (time.perf_counter() - clock) * 1000
        records, similarity = found.records, found.similarity
        clock = time.perf_counter()
        fused = reciprocal_rank_fusion(lists, self.fusion.rrf_k, applies)
        recency = self.fusion.recency_prior
        if wants_recent(question):
            recency = max(self.fusion.recency, recency)  # a cue never gets less than the prior
        if recency > 0:
            pool = self._pool(fused, similarity, self.fusion.recency_pool, self.fusion.recency_margin)
            # Newest week first; within a week the fused order stands (same-week reports are not "newer").
            newest = sorted(pool, key=lambda i: -((_published(records[i]) or date.min).toordinal() // 7))
            self._boost(fused, newest, recency)
        stages["fusion_ms"] = (time.perf_counter() - clock) * 1000
        if self.fusion.period > 0 and period is not None:
            clock = time.perf_counter()
            grace = self.fusion.period_grace_days
            inside = [i for i in self._pool(fused, similarity, self.fusion.period_pool, self.fusion.period_margin)
                      if (day := _published(records[i])) and period.contains(day, grace)]
            self._boost(fused, inside, self.fusion.period)
            stages["period_ms"] += (time.perf_counter() - clock) * 1000
        clock = time.perf_counter()
        order = sorted((i for i in fused if i in records), key=lambda i: -fused[i])
        stages["fusion_ms"] += (time.perf_counter() - clock) * 1000
        # Syndicated copies of one story would take several of the k places with the same text.
        head = max(k * 4, self.rerank_top)
        order = collapse_duplicates(order[:head], {i: records[i].text for i in order[:head]}) + order[head:]
        if self.reranker is not None and self.rerank_top > 1:
            clock = time.perf_counter()
            top = order[: self.rerank_top]
            scores = self.reranker.score(search, [records[i].text for i in top])
            order = [i for _, i in sorted(zip(scores, top), key=lambda p: -p[0])] + order[self.rerank_top:]
            stages["rerank_ms"] = (time.perf_counter() - clock) * 1000
        if self.max_per_article:
            # "Close" as for recency: within the margin of the best similarity among the fused candidates.
            floor = max((similarity[i] for i in fused if i in similarity), default=0.0) - self.fusion.recency_margin
            order = cap_per_article(order, records, self.max_per_article, k,
                                    lambda i: similarity.get(i, floor - 1.0) >= floor)
        keyword_set = found.keyword_ids
        neighbours: dict[tuple[str, str, int], str] = {}
        if self.sentence_window > 0:
            clock = time.perf_counter()
            neighbours = self._neighbours([records[i] for i in order[:k]])
            stages["window_ms"] = (time.perf_counter() - clock) * 1000
        passages = []
        for chunk_id in order[:k]:
            record = records[chunk_id]
            chunk = Chunk.from_metadata(record.id, record.text, record.metadata)
            shown = chunk.text
            if neighbours:
                place = (chunk.article_id, chunk.article_hash)
                shown = widen(chunk.text, neighbours.get((*place, chunk.position - 1)),
                              neighbours.get((*place, chunk.position + 1)), self.sentence_window)
            found_by = (("dense", chunk_id in similarity), ("keyword", chunk_id in keyword_set))
            matched = "+".join(name for name, hit in found_by if hit)
            passages.append(
                Passage(
                    n=len(passages) + 1,
                    chunk=chunk,
                    score=similarity.get(chunk_id, 0.0),
                    display_text=self._display(chunk, shown),
                    display_title=defang(chunk.title)[0] if self.screen_instructions else chunk.title,
                    matched_by=matched,
                )
            )
        return passages
