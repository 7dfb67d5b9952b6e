"""Question translation on the OpenVINO runtime: how many tokens prompt lookup proposes per step, in one run.

    python bench/translate.py [--questions 6] [--languages fr es]

Translates seed-style questions with the product's QueryTranslator over the default LLM (`build_llm`), three
ways taking turns: the pipeline built for prompt lookup asked for 5 proposals per step (what answers use, and
what translations used before the fourteenth session), the same pipeline asked for 1 (what translations use
now), and a pipeline built without prompt lookup (`llm_draft_tokens=0`, the baseline). A fresh translator per
call, so nothing comes from its cache. Prints each call and the medians with their ratio to the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.factory import build_llm  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.translate import QueryTranslator  # noqa: E402

QUESTIONS = [
    "When did Bessent last meet He Lifeng?",
    "What did Beijing agree to postpone?",
    "When is the US president expected to visit China?",
    "Which museum was robbed in October and what was stolen?",
    "How much did the European Central Bank raise its rates in July?",
    "Who won the regional election in Bavaria last week?",
    "What did the two sides agree about rare earth exports?",
    "Why were flights cancelled at the airport on Monday?",
]


class Proposals:
    """The chat model, every call asking for `n` proposed tokens per step whatever the caller asks."""

    def __init__(self, llm, n: int) -> None:
        self.llm, self.n, self.draft_tokens = llm, n, llm.draft_tokens

    def invoke(self, messages, **kwargs):
        kwargs["draft_tokens"] = self.n
        return self.llm.invoke(messages, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--languages", nargs="+", default=["fr", "es"])
    args = parser.parse_args()
    settings = Settings()
    if settings.resolved_llm_runtime() != "openvino":
        raise SystemExit("the openvino runtime does not run here (llm_runtime resolves to "
                         f"{settings.resolved_llm_runtime()}); prompt lookup is an OpenVINO option")
    lookup = build_llm(settings.model_copy(update={"llm_draft_tokens": 5})).load()
    plain = build_llm(settings.model_copy(update={"llm_draft_tokens": 0})).load()
    ways = {"no prompt lookup (baseline)": plain, "lookup, 5 proposals (before)": Proposals(lookup, 5),
            "lookup, 1 proposal (now)": Proposals(lookup, 1)}
    print(f"weights: {lookup.ir_path or lookup.model_path}")
    times: dict[str, list[float]] = {name: [] for name in ways}
    for question in QUESTIONS[: args.questions]:
        for language in args.languages:
            for name, llm in ways.items():
                start = time.perf_counter()
                text = QueryTranslator(llm).translate(question, language)
                times[name].append(time.perf_counter() - start)
                print(f"{name}: {times[name][-1]:.2f} s {language} {text!r}", flush=True)
    base = statistics.median(times["no prompt lookup (baseline)"])
    print("\n| translation | median s | vs no prompt lookup |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {statistics.median(values) / base:.2f}x |")


if __name__ == "__main__":
    main()
