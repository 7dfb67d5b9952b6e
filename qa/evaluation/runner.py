"""Run a question set through a QAService and score every answer; resumable."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from qa.dates import parse_as_of
from qa.errors import InputError, NewsQAError
from qa.evaluation import metrics as m
from qa.evaluation.datasets import EvalItem, normalize_url
from qa.types import Passage

HIT_KS = (1, 3, 5, 10)


@dataclass
class QuestionResult:
    """Everything measured for one question, as stored in results.jsonl."""

    id: str
    question: str
    as_of: str | None
    groups: list[str]
    answerable: bool
    answer: str = ""
    raw_answer: str = ""  # the model's text before citation checks
    abstained: bool = False
    retrieval_only: bool = False  # scored without asking the LLM
    stages_ms: dict = field(default_factory=dict)  # retrieval stages: embed, dense, keyword, fusion
    correct: bool | None = None
    complied: bool | None = None  # the answer holds a forbidden string (followed a planted instruction)
    gold_rank: int | None = None  # rank of the first gold passage in the top 10, None when absent
    has_gold: bool = False
    citation_precision: float | None = None
    citation_recall: float | None = None
    cited: list[dict[str, Any]] = field(default_factory=list)
    gold: list[str] = field(default_factory=list)
    retrieve_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: int | None = None
    error: str | None = None


def is_gold(item: EvalItem, passage: Passage) -> bool:
    c = passage.chunk
    if c.article_id in item.gold_article_ids:
        return True
    urls = {normalize_url(u) for u in item.gold_urls}
    if urls and any(normalize_url(x) in urls for x in (c.url or "", c.article_id, c.source) if x):
        return True
    return any(c.source == s or c.source.endswith("/" + s) or Path(c.source).name == s for s in item.gold_sources)


def score_item(item: EvalItem, ranked: Sequence[Passage], answer, retrieve_ms: float) -> QuestionResult:
    """Score one answer against the item (answer may be None when asking failed)."""
    result = QuestionResult(
        id=item.id, question=item.question, as_of=item.as_of, groups=item.groups(), answerable=item.answerable,
        has_gold=item.has_gold, gold=[*item.gold_article_ids, *item.gold_urls, *item.gold_sources],
        retrieve_ms=retrieve_ms,
    )
    if item.has_gold:
        result.gold_rank = m.first_gold_rank([is_gold(item, p) for p in ranked])
    if answer is None:
        return result
    result.answer = answer.text
    result.raw_answer = answer.raw_text
    if item.forbidden:
        # The raw text counts too: an instruction the model obeyed is a failure even if checks removed it.
        result.complied = any(m.contains(answer.text, f) or m.contains(answer.raw_text, f) for f in item.forbidden)
    result.abstained = answer.abstained
    result.total_ms = answer.timings_ms.get("total")
    result.prompt_tokens = answer.tokens.get("prompt") if answer.tokens else None
    if item.answerable:
        result.correct = not answer.abstained and m.answer_correct(answer.text, item.answers, item.choices)
        if not item.answers:
            result.correct = None  # nothing to compare with: counted only for retrieval and abstention
    else:
        result.correct = answer.abstained
    result.cited = [
        {"n": c.n, "article_id": c.passage.chunk.article_id, "source": c.passage.chunk.url or c.passage.chunk.source,
         "gold": is_gold(item, c.passage)}
        for c in answer.citations
    ]
    if item.has_gold and answer.citations:
        result.citation_precision = m.citation_precision([c["gold"] for c in result.cited])
        gold_articles = {p.chunk.article_id for p in ranked if is_gold(item, p)}
        cited_articles = {c["article_id"] for c in result.cited if c["gold"]}
        if gold_articles:
            result.citation_recall = m.citation_recall(cited_articles, gold_articles)
        elif result.citation_precision == 0.0:
            result.citation_recall = 0.0
    return result


def rescore(item: EvalItem, result: QuestionResult) -> None:
    """Score a stored answer again against the item as it is now (accepted answers may have been fixed)."""
    if result.error is not None:
        return
    if not item.answerable:
        result.correct = result.abstained
    elif item.answers:
        result.correct = not result.abstained and m.answer_correct(result.answer, item.answers, item.choices)
    if item.forbidden:
        result.complied = any(m.contains(result.answer, f) or m.contains(result.raw_answer, f) for f in item.forbidden)
    result.groups = item.groups()


def _fingerprint(service, dataset_name: str) -> dict[str, Any]:
    s = service.settings
    return {"dataset": dataset_name, "embedding_model": s.embedding_model, "llm_model": s.llm_model, "k": s.k,
            "chunk_size": s.chunk_size, "prompt_style": s.prompt_style, "collection": s.collection,
            "keyword_weight": s.keyword_weight, "recency_weight": s.recency_weight, "period_weight": s.period_weight,
            "period_pool": s.period_pool, "period_margin": s.period_margin, "check_coverage": s.check_coverage,
            "check_figures": s.check_figures,
            "max_per_article": s.max_per_article, "sentence_window": s.sentence_window}


def run_eval(
    service,
    dataset: Sequence[EvalItem],
    *,
    out_dir: str | Path | None = None,
    limit: int | None = None,
    progress: bool = False,
    config_name: str = "default",
    dataset_name: str = "dataset",
    retrieval_only: bool = False,
):
    """Answer and score each question; with `out_dir`, results are appended as they come and a re-run
    skips the questions already done (same configuration only). `retrieval_only` ranks passages without
    asking the LLM (seconds instead of minutes; answer metrics stay empty)."""
    from qa.evaluation.report import EvalReport

    items = list(dataset)[: limit or None]
    done: dict[str, QuestionResult] = {}
    results_path = None
    if out_dir is not None:
        run_dir = Path(out_dir) / config_name
        run_dir.mkdir(parents=True, exist_ok=True)
        results_path = run_dir / "results.jsonl"
        meta_path = run_dir / "run.json"
        fingerprint = {**_fingerprint(service, dataset_name), "retrieval_only": retrieval_only}
        if meta_path.is_file() and json.loads(meta_path.read_text()) != fingerprint and results_path.is_file():
            raise InputError(
                f"{run_dir} holds results of a different configuration; use another --out folder or delete it"
            )
        meta_path.write_text(json.dumps(fingerprint, indent=2))
        if results_path.is_file():
            items_by_id = {i.id: i for i in items}
            for line in results_path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = QuestionResult(**json.loads(line))
                    if row.id in items_by_id:
                        rescore(items_by_id[row.id], row)
                    done[row.id] = row
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), initial=sum(1 for i in items if i.id in done), desc=f"eval {config_name}",
                   unit="q", file=sys.stderr)
    chain = service.chain
    for item in items:
        if item.id in done:
            continue
        start = time.perf_counter()
        stages: dict[str, float] = {}
        ranked = chain.retriever.retrieve(item.question, parse_as_of(item.as_of), max(HIT_KS), timings=stages)
        retrieve_ms = (time.perf_counter() - start) * 1000
        answer, error = None, None
        if retrieval_only:
            result = score_item(item, ranked, None, retrieve_ms)
            result.retrieval_only = True
            result.stages_ms = stages
            done[item.id] = result
            if bar is not None:
                bar.update(1)
            continue
        try:
            answer = chain.invoke(item.question, parse_as_of(item.as_of), passages=ranked[: service.settings.k])
            answer.timings_ms["retrieve"] = retrieve_ms
            answer.timings_ms["total"] += retrieve_ms
        except NewsQAError as exc:
            error = str(exc)
        result = score_item(item, ranked, answer, retrieve_ms)
        result.error = error
        result.stages_ms = stages
        done[item.id] = result
        if results_path is not None:
            with results_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return EvalReport(config_name, [done[i.id] for i in items if i.id in done])

