"""Compare the two llama.cpp runtimes on the same answer-sized prompt, in one run.

    python bench/llm_runtime.py [--runs 3]

Needs `newsqa models pull` and, for the comparison, `pip install llama-cpp-python` (not a dependency:
it compiles for ~12 minutes; the project uses xllamacpp's prebuilt wheel). Prints prompt and generation
speed per runtime and the ratio against xllamacpp, the baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.prompting import SYSTEM  # noqa: E402
from qa.settings import Settings  # noqa: E402

SEED = Path(__file__).resolve().parent.parent.parent / "shared" / "seeds" / "004_a88b1a08a186ee89.txt"
FILLER = ("The two delegations met for several hours and discussed trade, export controls, purchases of farm "
          "goods and the schedule of future meetings between their leaders. ") * 12


def messages() -> list[dict[str, str]]:
    context = SEED.read_text(encoding="utf-8") if SEED.is_file() else FILLER
    user = f"Today is 2026-02-11.\n\nPassages:\n[1] {context}\n\nQuestion: When did Bessent last meet He Lifeng?"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def run_xllamacpp(path: str, threads: int, runs: int) -> list[dict]:
    from qa.llm import ChatXLlamaCpp

    llm = ChatXLlamaCpp(model_path=path, n_threads=threads, max_tokens=64).load()
    out = []
    for i in range(runs):
        msgs = messages()
        msgs[1]["content"] = f"(run {i})\n" + msgs[1]["content"]  # defeat the prompt cache
        start = time.perf_counter()
        result = llm._server.handle_chat_completions({"messages": msgs, "max_tokens": 64, "temperature": 0})
        t = result["timings"]
        out.append({"total_s": time.perf_counter() - start, "prompt_tps": t["prompt_per_second"],
                    "gen_tps": t["predicted_per_second"], "prompt_n": t["prompt_n"]})
    return out


def run_llama_cpp_python(path: str, threads: int, runs: int) -> list[dict]:
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
    out = []
    for i in range(runs):
        msgs = messages()
        msgs[1]["content"] = f"(run {i})\n" + msgs[1]["content"]
        llm.reset()
        start = time.perf_counter()
        t0 = time.perf_counter()
        first = None
        n = 0
        for _chunk in llm.create_chat_completion(messages=msgs, max_tokens=64, temperature=0, stream=True):
            if first is None:
                first = time.perf_counter()
            n += 1
        end = time.perf_counter()
        prompt_n = len(llm.tokenize(str(msgs).encode()))  # rough; the ratio uses wall time below
        out.append({"total_s": end - start, "prompt_tps": prompt_n / max(first - t0, 1e-9),
                    "gen_tps": n / max(end - first, 1e-9), "prompt_n": prompt_n})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    path = str(settings.model_dir / settings.llm_model)
    threads = settings.resolved_threads()
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    results = {"xllamacpp": run_xllamacpp(path, threads, args.runs)}
    try:
        results["llama-cpp-python"] = run_llama_cpp_python(path, threads, args.runs)
    except ImportError:
        print("llama-cpp-python is not installed: only xllamacpp measured")
    base = statistics.median(r["total_s"] for r in results["xllamacpp"])
    print("| runtime | prompt tokens | prompt tok/s | generation tok/s | answer s (median) | time vs xllamacpp |")
    print("|---|---|---|---|---|---|")
    for name, rows in results.items():
        med = statistics.median(r["total_s"] for r in rows)
        print(f"| {name} | {rows[0]['prompt_n']} | {statistics.median(r['prompt_tps'] for r in rows):.1f} | "
              f"{statistics.median(r['gen_tps'] for r in rows):.1f} | {med:.2f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
