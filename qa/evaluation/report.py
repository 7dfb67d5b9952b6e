"""Aggregate per-question results into tables, a Markdown report, JSON and plots."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from qa.evaluation import metrics as m
from qa.evaluation.runner import HIT_KS, QuestionResult

ROWS = [
    ("n", "questions", "{:.0f}"),
    ("accuracy", "answer accuracy", "{:.3f}"),
    *[(f"hit@{k}", f"Hit@{k} (gold article)", "{:.3f}") for k in HIT_KS],
    ("mrr@10", "MRR@10", "{:.3f}"),
    *[(f"answer_hit@{k}", f"Hit@{k} (a passage holding the answer)", "{:.3f}") for k in (1, 5, 10)],
    ("citation_precision", "citation precision", "{:.3f}"),
    ("citation_recall", "citation recall", "{:.3f}"),
    ("abstention_unanswerable", "abstention on unanswerable", "{:.3f}"),
    ("false_abstention", "false abstention on answerable", "{:.3f}"),
    ("retrieve_p50_ms", "retrieval p50 (ms)", "{:.0f}"),
    ("retrieve_p95_ms", "retrieval p95 (ms)", "{:.0f}"),
    ("total_p50_s", "answer p50 (s)", "{:.1f}"),
    ("total_p95_s", "answer p95 (s)", "{:.1f}"),
    ("prompt_tokens", "prompt tokens (mean)", "{:.0f}"),
    ("injection_compliance", "answers obeying planted instructions", "{:.3f}"),
    ("errors", "errors", "{:.0f}"),
]


def aggregate(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """The metrics of one group of results; None where a metric has no data."""
    ranked = [r for r in results if r.has_gold]
    # Rows of a retrieval-only run carry no answer: they count for retrieval and latency only.
    answered = [r for r in results if not r.retrieval_only]
    answerable = [r for r in answered if r.answerable]
    unanswerable = [r for r in answered if not r.answerable]
    agg: dict[str, Any] = {
        "n": len(results),
        # A question whose answer failed with an error counts as wrong, not as absent.
        "accuracy": m.mean(0.0 if r.error else float(r.correct) for r in answered
                           if r.error or r.correct is not None),
        "mrr@10": m.mean(m.reciprocal_rank(r.gold_rank) for r in ranked),
        "citation_precision": m.mean(r.citation_precision for r in results),
        "citation_recall": m.mean(r.citation_recall for r in results),
        "abstention_unanswerable": m.mean(float(r.abstained) for r in unanswerable if r.error is None),
        "false_abstention": m.mean(float(r.abstained) for r in answerable if r.error is None),
        "retrieve_p50_ms": m.percentile([r.retrieve_ms for r in results], 50),
        "retrieve_p95_ms": m.percentile([r.retrieve_ms for r in results], 95),
        "total_p50_s": _seconds(m.percentile([r.total_ms for r in results], 50)),
        "total_p95_s": _seconds(m.percentile([r.total_ms for r in results], 95)),
        "prompt_tokens": m.mean(r.prompt_tokens for r in results),
        "errors": sum(1 for r in results if r.error),
        "injection_compliance": m.mean(float(r.complied) for r in answered if r.complied is not None),
    }
    for k in HIT_KS:
        agg[f"hit@{k}"] = m.mean(m.hit_at(r.gold_rank, k) for r in ranked)
    looked = [r for r in results if r.answer_ranked]
    for k in (1, 5, 10):
        agg[f"answer_hit@{k}"] = m.mean(m.hit_at(r.answer_rank, k) for r in looked)
    stages = sorted({name for r in results for name in (r.stages_ms or {})})
    agg["stage_p50_ms"] = {name: m.percentile([r.stages_ms[name] for r in results if name in (r.stages_ms or {})], 50)
                           for name in stages}
    return agg


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


@dataclass
class EvalReport:
    config: str
    results: list[QuestionResult]

    def groups(self) -> dict[str, dict[str, Any]]:
        names: list[str] = []
        for r in self.results:
            names.extend(g for g in r.groups if g not in names)
        return {g: aggregate([r for r in self.results if g in r.groups]) for g in names}

    @property
    def overall(self) -> dict[str, Any]:
        return aggregate(self.results)

    def failures(self, limit: int = 10) -> list[QuestionResult]:
        wrong = [r for r in self.results if r.correct is False or r.error]
        return sorted(wrong, key=lambda r: (r.gold_rank is not None, -(r.gold_rank or 0)))[:limit]

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "overall": self.overall, "groups": self.groups(),
                "results": [asdict(r) for r in self.results]}


def _fmt(value: Any, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def comparison_table(reports: Sequence[EvalReport], group: str = "all") -> str:
    """Markdown table, one column per configuration, for one group of questions."""
    cols = [(r.config, r.groups().get(group, {})) for r in reports]
    lines = ["| metric | " + " | ".join(c for c, _ in cols) + " |", "|---|" + "---|" * len(cols)]
    for key, label, pattern in ROWS:
        lines.append(f"| {label} | " + " | ".join(_fmt(agg.get(key), pattern) for _, agg in cols) + " |")
    return "\n".join(lines)


def markdown(reports: Sequence[EvalReport], title: str, command: str | None = None) -> str:
    out = [f"# {title}", ""]
    if command:
        out += ["Command:", "", f"    {command}", ""]
    out += ["## Overall", "", comparison_table(reports), ""]
    groups = [g for g in reports[0].groups() if g != "all"]
    for g in groups:
        out += [f"## Group: {g}", "", comparison_table(reports, g), ""]
    for report in reports:
        out += [f"## Worst failures: {report.config}", ""]
        for r in report.failures():
            cited = ", ".join(f"[{c['n']}] {c['source']}{' (gold)' if c['gold'] else ''}" for c in r.cited) or "none"
            out += [f"- **{r.id}** {r.question} (as of {r.as_of or '–'})",
                    f"  - answer: {r.answer or r.error or '–'}"
                    + (f" (model wrote: {r.raw_answer})" if r.raw_answer and r.raw_answer != r.answer else ""),
                    f"  - gold: {', '.join(r.gold) or ('unanswerable' if not r.answerable else '–')}; "
                    f"gold passage rank: {r.gold_rank or 'not in top 10'}",
                    f"  - cited: {cited}"]
        out.append("")
    return "\n".join(out)


def plots(reports: Sequence[EvalReport], out_dir: Path) -> list[Path]:
    """Hit@k curve, latency histogram and accuracy per group, as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in reports:
        agg = r.overall
        ax.plot(HIT_KS, [agg.get(f"hit@{k}") or 0 for k in HIT_KS], marker="o", label=r.config)
    ax.set(xlabel="k", ylabel="Hit@k", ylim=(0, 1.05), title="Gold article in the top k passages")
    ax.legend()
    paths.append(_save(fig, out_dir / "hit_at_k.png"))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in reports:
        totals = [x.total_ms / 1000 for x in r.results if x.total_ms]
        if totals:
            ax.hist(totals, bins=15, alpha=0.6, label=r.config)
    ax.set(xlabel="seconds per answer", ylabel="questions", title="Answer latency")
    ax.legend()
    paths.append(_save(fig, out_dir / "latency.png"))
    groups = list(reports[0].groups())
    fig, ax = plt.subplots(figsize=(max(5, len(groups) * 0.9), 3.5))
    width = 0.8 / len(reports)
    for i, r in enumerate(reports):
        g = r.groups()
        ax.bar([x + i * width for x in range(len(groups))], [(g.get(n, {}).get("accuracy") or 0) for n in groups],
               width=width, label=r.config)
    ax.set_xticks([x + width * (len(reports) - 1) / 2 for x in range(len(groups))], groups, rotation=30, ha="right")
    ax.set(ylabel="accuracy", ylim=(0, 1.05), title="Answer accuracy per group")
    ax.legend()
    paths.append(_save(fig, out_dir / "accuracy_by_group.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def write(reports: Sequence[EvalReport], out_dir: Path, title: str, command: str | None = None) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "report.md"
    md.write_text(markdown(reports, title, command), encoding="utf-8")
    js = out_dir / "report.json"
    js.write_text(json.dumps([r.to_dict() for r in reports], indent=2, ensure_ascii=False), encoding="utf-8")
    files = {"markdown": md, "json": js}
    for p in plots(reports, out_dir):
        files[p.stem] = p
    return files
