"""Run a question set through a QAService and score every answer; resumable."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from qa.retrieve.dates import parse_as_of
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
    # Rank of the first passage holding an accepted answer (multiple choice: the right choice) in the top 10;
    # same-story reports from other outlets count here, not in gold_rank. `answer_ranked`: it was looked for.
    answer_rank: int | None = None
    answer_ranked: bool = False
    has_gold: bool = False
    citation_precision: float | None = None
    citation_recall: float | None = None
    cited: list[dict[str, Any]] = field(default_factory=list)
    gold: list[str] = field(default_factory=list)
    retrieve_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: int | None = None
    confidence: dict = field(default_factory=dict)  # the model's token-probability signals (Answer.confidence)
    token_logprobs: list = field(default_factory=list)  # the reply's (token, log-probability) pairs
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
    if item.answerable and item.answers:
        accepted = item.answers[:1] if item.choices else item.answers
        result.answer_ranked = True
        result.answer_rank = m.first_gold_rank([holds_answer(p, accepted, item.language) for p in ranked])
    if answer is None:
        return result
    result.answer = answer.text
    result.raw_answer = answer.raw_text
    if item.forbidden:
        # The raw text counts too: an instruction the model obeyed is a failure even if checks removed it.
        result.complied = any(m.contains(answer.text, f) or m.contains(answer.raw_text, f) for f in item.forbidden)
    result.abstained = answer.abstained
    result.total_ms = answer.timings_ms.get("total")
    # None when the model was not asked (no passages, or the coverage check answered): not a 0-token prompt.
    result.prompt_tokens = (answer.tokens or {}).get("prompt") or None
    result.confidence = dict(getattr(answer, "confidence", None) or {})
    result.token_logprobs = [[t, round(lp, 3)] for t, lp in getattr(answer, "token_logprobs", None) or []]
    if item.answerable:
        result.correct = not answer.abstained and m.answer_correct(answer.text, item.answers, item.choices,
                                                                   item.language)
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
    if item.has_gold and item.answerable:
        # Recall counts every gold article the question names, retrieved or not; citing nothing scores 0.
        named = max(len(set(item.gold_article_ids)), len(set(item.gold_urls)), len(set(item.gold_sources)))
        gold_articles = {p.chunk.article_id for p in ranked if is_gold(item, p)}
        cited_articles = {c["article_id"] for c in result.cited if c["gold"]}
        result.citation_recall = m.citation_recall(cited_articles, gold_articles, named)
    return result


def holds_answer(passage: Passage, accepted: Sequence[str], language: str | None) -> bool:
    """Whether the passage's text holds one of `accepted`, numbers spelled out in its language (else the
    question's, else English) read as digits on both sides; the passage is converted once."""
    language = passage.chunk.language or language or "en"
    text = m.number_words_to_digits(passage.display_text or passage.chunk.text, language)
    return any(m.contains(text, m.number_words_to_digits(a, language)) for a in accepted)


def rescore(item: EvalItem, result: QuestionResult) -> None:
    """Score a stored answer again against the item as it is now (accepted answers may have been fixed)."""
    if result.error is not None:
        return
    if not item.answerable:
        result.correct = result.abstained
    elif item.answers:
        result.correct = not result.abstained and m.answer_correct(result.answer, item.answers, item.choices,
                                                                   item.language)
    if item.forbidden:
        result.complied = any(m.contains(result.answer, f) or m.contains(result.raw_answer, f) for f in item.forbidden)
    result.groups = item.groups()


# Settings that do not change what a run measures: where model files live, thread counts, secrets, and the
# encoder runtime (ONNX Runtime and PyTorch vectors agree to a cosine of 0.9999999).
_NOT_MEASURED = {"model_dir", "auto_pull", "threads", "api_token", "encoder"}


def _fingerprint(service, dataset_name: str) -> dict[str, Any]:
    """What the stored results depend on: every setting and recipe choice that changes retrieval or answers, the
    dataset."""
    settings = service.settings.model_dump(mode="json")
    fingerprint = {"dataset": dataset_name}
    fingerprint.update({key: value for key, value in sorted(settings.items()) if key not in _NOT_MEASURED})
    fingerprint["recipe"] = service.recipe.model_dump(mode="json")
    return fingerprint


def _same_run(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings that differ between a stored fingerprint and the current one. A setting newer than the
    stored run counts as unchanged at its default value; a run stored before the recipe was recorded
    (2026-12-07) may have used a retired path or setting, so it counts as another run."""
    from qa.settings import Settings

    if "recipe" not in stored:
        return ["recipe (a run stored by an earlier version)"]

    def default(key: str) -> Any:
        if key == "with_options":  # runs stored before open mode asked multiple-choice items with their options
            return True
        field = Settings.model_fields.get(key)
        if field is None:
            return None
        value = field.get_default(call_default_factory=True)
        return json.loads(json.dumps(value, default=str))

    return [key for key, value in current.items()
            if (stored[key] if key in stored else default(key)) != value]


def _stored(results_path: Path, items_by_id: dict[str, EvalItem]) -> dict[str, QuestionResult]:
    """Results of an earlier run of the same configuration. A cut-off last line (the run was killed while
    writing it) is dropped; questions that failed with an error are asked again."""
    done: dict[str, QuestionResult] = {}
    lines = results_path.read_text(encoding="utf-8").split("\n")
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = QuestionResult(**json.loads(line))
        except json.JSONDecodeError as exc:
            if lineno >= len(lines) - 1:  # the last line: a write the interruption cut short
                print(f"{results_path}:{lineno}: incomplete last result dropped; that question runs again",
                      file=sys.stderr)
                continue
            raise InputError(f"{results_path}:{lineno}: malformed result ({exc.msg}); delete the line or the "
                             "folder to run those questions again") from exc
        except TypeError as exc:
            raise InputError(f"{results_path}:{lineno}: a result of another version of newsqa ({exc}); "
                             "use another --out folder") from exc
        if row.error:
            continue
        if row.id in items_by_id:
            rescore(items_by_id[row.id], row)
        done[row.id] = row
    return done


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
    with_options: bool = False,
):
    """Answer and score each question; with `out_dir`, results are appended as they come and a re-run
    skips the questions already done (same configuration only). `retrieval_only` ranks passages without
    asking the LLM (seconds instead of minutes; answer metrics stay empty).

    A multiple-choice item (RealTimeQA) is asked as an open question, as users ask: its options reach neither
    the search nor the model, and the reply is scored by whether it names the right option and no other.
    `with_options` asks it the way that benchmark is meant to be run instead: the options are searched with the
    question and shown to the model, which replies with one (dates and cues are still read from the question)."""
    from qa.evaluation.report import EvalReport

    if limit is not None and limit < 1:
        raise InputError(f"--limit must be a positive number of questions, not {limit}")
    if hasattr(service, "_ready"):
        service._ready()  # an empty index would score every question as an abstention
    items = list(dataset)[: limit or None]
    done: dict[str, QuestionResult] = {}
    results_path = None
    if out_dir is not None:
        run_dir = Path(out_dir) / config_name
        run_dir.mkdir(parents=True, exist_ok=True)
        results_path = run_dir / "results.jsonl"
        meta_path = run_dir / "run.json"
        fingerprint = {**_fingerprint(service, dataset_name), "retrieval_only": retrieval_only,
                       "with_options": with_options}
        changed = _same_run(json.loads(meta_path.read_text()), fingerprint) if meta_path.is_file() else []
        if changed and results_path.is_file():
            raise InputError(
                f"{run_dir} holds results of a different configuration ({', '.join(changed)}); use another --out "
                "folder or delete it"
            )
        meta_path.write_text(json.dumps(fingerprint, indent=2))
        if results_path.is_file():
            done = _stored(results_path, {i.id: i for i in items})
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), initial=sum(1 for i in items if i.id in done), desc=f"eval {config_name}",
                   unit="q", file=sys.stderr)
    chain = service.chain
    chain.record_confidence()  # the model's token probabilities go into results.jsonl (qa/answer/confidence.py)
    for item in items:
        if item.id in done:
            continue
        start = time.perf_counter()
        stages: dict[str, float] = {}
        shown = item.choices if with_options else ()
        ranked = chain.retriever.retrieve(item.question, parse_as_of(item.as_of), max(HIT_KS), options=shown,
                                          timings=stages)
        retrieve_ms = (time.perf_counter() - start) * 1000
        answer, error = None, None
        if not retrieval_only:
            try:
                answer = chain.invoke(item.question, parse_as_of(item.as_of), passages=ranked[: service.settings.k],
                                      options=shown)
                answer.timings_ms["retrieve"] = retrieve_ms
                answer.timings_ms["total"] += retrieve_ms
            except NewsQAError as exc:
                error = str(exc)
        result = score_item(item, ranked, answer, retrieve_ms)
        result.retrieval_only = retrieval_only
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

