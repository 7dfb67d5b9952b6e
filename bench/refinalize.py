"""Stored model replies checked again by the current code: before/after answer metrics, in one run, no LLM.

    python bench/refinalize.py --index /work/idx/rtqa --dataset ../shared/bench/realtimeqa-dev \
        --results bench/out/rtqa-llm/ours/results.jsonl

A `newsqa eval` run stores each question's raw model reply. Citation checks, abstention rules and the coverage
check run after the model, so a change to them can be measured on the same replies without asking the LLM
again (minutes instead of an hour on 2 cores). Passages are retrieved again with the current settings (the
script counts questions whose gold rank differs from the stored one: there should be none when retrieval did
not change). Prints the two aggregates side by side and every question whose verdict changed.

Whether a multiple-choice item was asked with its options or as an open question is read from the run.json
beside the results (runs stored before open mode existed were asked with them). Runs stored before 2026-12-04
(b77b855) showed the model passages that the period filter now leaves out: their [n] would point at other
passages than the model saw, so they cannot be re-checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_SHOWN = ["accuracy", "false_abstention", "abstention_unanswerable", "citation_precision", "citation_recall"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True, help="the index the run used")
    parser.add_argument("--dataset", required=True, help="the run's question set")
    parser.add_argument("--results", required=True, help="results.jsonl of an answered run")
    parser.add_argument("--config", default="ours", help="the run's configuration (ours, baseline or a JSON file)")
    parser.add_argument("--out", help="write the re-checked results here (JSONL)")
    args = parser.parse_args()

    from qa.retrieve.dates import parse_as_of
    from qa.evaluation import load_dataset
    from qa.evaluation.configs import resolve_config
    from qa.evaluation.report import aggregate
    from qa.evaluation.runner import HIT_KS, _stored, score_item
    from qa.service import QAService
    from qa.settings import Settings

    items = {item.id: item for item in load_dataset(args.dataset)}
    meta = Path(args.results).with_name("run.json")
    with_options = json.loads(meta.read_text()).get("with_options", True) if meta.is_file() else True
    _, settings, recipe = resolve_config(args.config, Settings(index_dir=args.index))
    service = QAService(settings=settings, recipe=recipe)
    chain = service.chain
    before, after, moved = [], [], 0
    # As `newsqa eval` reads them on resume: rescored against the dataset as it is now (both columns then use
    # the current answer matching), a cut-off last line dropped, errors left out.
    stored = _stored(Path(args.results), items)
    for old in stored.values():
        item = items.get(old.id)
        if item is None or old.retrieval_only:
            continue
        if old.total_ms is not None and not old.raw_answer and old.prompt_tokens:
            sys.exit(f"{args.results}: {old.id} has no stored reply (raw_answer); this run is too old to re-check")
        as_of = parse_as_of(item.as_of)
        options = item.choices if with_options else ()
        ranked = chain.retriever.retrieve(item.question, as_of, max(HIT_KS), options=options)
        answer = chain.answer_from_reply(item.question, as_of, ranked[: settings.k], old.raw_answer,
                                         options=options)
        answer.timings_ms["total"] = old.total_ms or 0.0
        answer.tokens = {"prompt": old.prompt_tokens or 0}
        new = score_item(item, ranked, answer, old.retrieve_ms or 0.0)
        new.stages_ms = old.stages_ms
        moved += new.gold_rank != old.gold_rank
        before.append(old)
        after.append(new)
        if (old.correct, old.abstained) != (new.correct, new.abstained):
            print(f"{old.id}: correct {old.correct} -> {new.correct}, abstained {old.abstained} -> {new.abstained}"
                  f"\n  reply: {old.raw_answer[:160]!r}\n  was:   {old.answer[:160]!r}\n  now:   {new.answer[:160]!r}")
    a, b = aggregate(before), aggregate(after)
    print(f"\n{len(after)} stored replies; gold rank differs from the stored run for {moved}")
    print("| metric | stored | re-checked now |\n|---|---|---|")
    for key in _SHOWN:
        fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"| {key} | {fmt(a.get(key))} | {fmt(b.get(key))} |")
    if args.out:
        Path(args.out).write_text("".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in after))


if __name__ == "__main__":
    main()
