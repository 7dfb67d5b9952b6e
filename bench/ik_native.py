"""ik_llama.cpp built for this CPU against the prebuilt wheel's AVX2 build, on the same answer-sized prompts.

    python bench/ik_native.py [--rounds 2] [--runs 4] [--passages 5]

A process keeps the first libllama it loads, so each side runs `bench/llm_runtime.py --runtimes ik` in its own
process (`NEWSQA_LLM_NATIVE_BUILD` true / false), taking turns for `--rounds` rounds so that a slow spell of the
host hits both. Prints the medians of first token, whole answer and prompt reading rate of each side and the
build's ratio to the wheel (the baseline, measured in the same run). Needs the build:
`NEWSQA_LLM_NATIVE_BUILD=true newsqa models pull` makes it on CPUs with AVX-512 VNNI.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.llm_runtime import machine  # noqa: E402
from qa.native_llm import native_library  # noqa: E402
from qa.settings import Settings  # noqa: E402

RUN = re.compile(r"run \d+ ik: first token ([\d.]+) s, answer ([\d.]+) s, (\d+) prompt tokens, (\d+) new")


def side(native: bool, runs: int, passages: int) -> list[dict]:
    env = {**os.environ, "NEWSQA_LLM_NATIVE_BUILD": "true" if native else "false"}
    cmd = [sys.executable, str(HERE / "llm_runtime.py"), "--runtimes", "ik", "--runs", str(runs),
           "--passages", str(passages)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rows = [{"first_s": float(m[1]), "total_s": float(m[2]), "prompt_n": int(m[3]), "new_n": int(m[4])}
            for m in RUN.finditer(proc.stdout)]
    print(f"{'native' if native else 'wheel'}: " + ", ".join(f"{r['first_s']:.2f}/{r['total_s']:.2f} s" for r in rows),
          flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=4, help="prompts per process (after one warm-up prompt)")
    parser.add_argument("--passages", type=int, default=5)
    args = parser.parse_args()
    library = native_library(Settings().model_dir)
    if library is None:
        raise SystemExit("no ik_llama.cpp build for this CPU: run `NEWSQA_LLM_NATIVE_BUILD=true newsqa models pull` "
                         "on a CPU with AVX-512 VNNI")
    print(f"machine: {machine()}\nbuild: {library}")
    rows: dict[str, list[dict]] = {"wheel": [], "native": []}
    for _ in range(args.rounds):
        rows["wheel"] += side(False, args.runs, args.passages)
        rows["native"] += side(True, args.runs, args.passages)
    medians = {}
    for name, rs in rows.items():
        first = statistics.median(r["first_s"] for r in rs)
        medians[name] = (first, statistics.median(r["total_s"] for r in rs),
                         statistics.median(r["prompt_n"] / r["first_s"] for r in rs))
    print("\n| ik library | prompts | first token s (median) | answer s (median) | prompt tokens/s (median, whole "
          "prompt over first token) | first token vs wheel | answer vs wheel |")
    print("|---|---|---|---|---|---|---|")
    for name, (first, total, rate) in medians.items():
        print(f"| {name} | {len(rows[name])} | {first:.2f} | {total:.2f} | {rate:.0f} | "
              f"{first / medians['wheel'][0]:.2f}x | {total / medians['wheel'][1]:.2f}x |")


if __name__ == "__main__":
    main()
