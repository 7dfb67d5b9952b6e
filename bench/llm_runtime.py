"""The LLM runtimes newsqa ships, on the same answer-sized prompt, in one run.

    python bench/llm_runtime.py [--runs 5] [--passages 5]
                                [--runtimes xllamacpp ik openvino openvino-nodraft openvino-gguf openvino-int8
                                             openvino-w8a8]
                                [--question "What did the two sides agree?"]

Each runtime loads the default GGUF (`newsqa models pull`) through the product's own adapters (`build_llm`
with `llm_runtime` = `xllamacpp`, stock llama.cpp; `ik`, ik_llama.cpp with its weights repacked at load;
`openvino`, OpenVINO GenAI, where installed, with the settings' prompt-lookup decoding and weights;
`openvino-nodraft`, the same without prompt lookup; `openvino-gguf` / `openvino-int8` / `openvino-w8a8`, reading
the GGUF itself / its int8 OpenVINO copy / the copy with int8 activations too, qa/llm_ir.py), and they answer the same prompts, taking turns so that a slow spell
of the host hits all. Each prompt is the answer
prompt's shape: the fixed instructions (cached after the first run, as in the service), then passages from the
seed articles that differ per run, so every run reads its passages afresh. Prints time to first token, whole
answer, prompt tokens and each runtime's ratio against xllamacpp, the baseline; also how often each gave ik's
greedy reply. Runs start with different passages (up to 7 runs), so prompts share only the instructions.
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

from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402

from qa.factory import build_llm  # noqa: E402
from qa.prompting import SYSTEM  # noqa: E402
from qa.settings import Settings  # noqa: E402

SEEDS = Path(__file__).resolve().parent.parent.parent / "shared" / "seeds"
FILLER = ("The two delegations met for several hours and discussed trade, export controls, purchases of farm "
          "goods and the schedule of future meetings between their leaders. ")


def paragraphs() -> list[str]:
    """~600-character pieces of the seed articles (the size of a chunk), or filler without ../shared."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))] if SEEDS.is_dir() else []
    words = " ".join(texts).split() or (FILLER * 40).split()
    return [" ".join(words[i:i + 100]) for i in range(0, len(words) - 50, 100)]


def prompt(run: int, n_passages: int, paras: list[str], question: str) -> list:
    chosen = [paras[(run * n_passages + i) % len(paras)] for i in range(n_passages)]
    body = "\n\n".join(f"[{i + 1}] {text}" for i, text in enumerate(chosen))
    user = f"Today is 2026-02-11.\n\nPassages:\n{body}\n\nQuestion: {question} (run {run})"
    return [SystemMessage(content=SYSTEM), HumanMessage(content=user)]


def timed(llm, messages: list) -> dict:
    start = time.perf_counter()
    first, text, tokens, produced = None, "", 0, 0
    for chunk in llm.stream(messages):
        if chunk.content and first is None:
            first = time.perf_counter() - start
        text += str(chunk.content)
        if chunk.usage_metadata:
            tokens, produced = chunk.usage_metadata["input_tokens"], chunk.usage_metadata["output_tokens"]
    total = time.perf_counter() - start
    return {"first_s": first if first is not None else total, "total_s": total, "prompt_n": tokens, "new_n": produced, "text": text}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    from importlib.metadata import version

    from qa.settings import cpu_has_amx

    try:
        genai = version("openvino-genai")
    except Exception:  # not installed
        genai = "not installed"
    return (f"{os.cpu_count()} cores, {cpu}, AMX {'yes' if cpu_has_amx() else 'no'}; Python "
            f"{platform.python_version()}, xllamacpp {version('xllamacpp')}, ik-llama-cpp-python "
            f"{version('ik-llama-cpp-python')}, openvino-genai {genai}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--passages", type=int, default=5, help="~600-character seed pieces per prompt (5: an answer's)")
    parser.add_argument("--runtimes", nargs="+", default=None,
                        choices=["xllamacpp", "ik", "openvino", "openvino-nodraft", "openvino-gguf", "openvino-int8",
                                 "openvino-w8a8"],
                        help="default: xllamacpp, ik and openvino (where installed); the first is the baseline")
    parser.add_argument("--question", default="When did Bessent last meet He Lifeng?",
                        help="asked of every prompt (the default's answer is in few of the passages: mostly short "
                        "abstentions; ask what the passages say for longer replies)")
    args = parser.parse_args()
    settings = Settings()
    print(f"machine: {machine()}")
    import importlib.util

    names = args.runtimes or ["xllamacpp", "ik"] + (["openvino"] if importlib.util.find_spec("openvino_genai") else [])
    def settings_for(name: str) -> Settings:
        update = {"llm_runtime": name.split("-")[0], "llm_max_tokens": 64}
        if name.endswith("-nodraft"):
            update["llm_draft_tokens"] = 0
        if name.endswith(("-gguf", "-int8", "-w8a8")):
            update["llm_openvino_weights"] = name.split("-")[1]
        return settings.model_copy(update=update)

    runtimes = {name: build_llm(settings_for(name)) for name in names}
    for name, llm in runtimes.items():
        start = time.perf_counter()
        llm.load()
        print(f"{name}: loaded in {time.perf_counter() - start:.1f} s")
    paras = paragraphs()
    rows: dict[str, list[dict]] = {name: [] for name in runtimes}
    for run in range(args.runs + 1):  # run 0 warms both caches with the instructions and is not counted
        for name, llm in runtimes.items():
            result = timed(llm, prompt(run, args.passages, paras, args.question))
            if run:
                rows[name].append(result)
                print(f"run {run} {name}: first token {result['first_s']:.2f} s, answer {result['total_s']:.2f} s, "
                      f"{result['prompt_n']} prompt tokens, {result['new_n']} new: {result['text'][:60]!r}", flush=True)
    base = names[0]
    base_first = statistics.median(r["first_s"] for r in rows[base])
    base_total = statistics.median(r["total_s"] for r in rows[base])
    print(f"\n| runtime | prompt tokens (median) | new tokens (median) | first token s (median) | answer s (median) "
          f"| first token vs {base} | answer vs {base} |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in rows.items():
        first = statistics.median(r["first_s"] for r in rs)
        total = statistics.median(r["total_s"] for r in rs)
        print(f"| {name} | {statistics.median(r['prompt_n'] for r in rs):.0f} | "
              f"{statistics.median(r['new_n'] for r in rs):.0f} | {first:.2f} | {total:.2f} | "
              f"{first / base_first:.2f}x | {total / base_total:.2f}x |")
    ref = "ik" if "ik" in rows else base
    for name in rows:
        if name != ref:
            same = sum(a["text"] == b["text"] for a, b in zip(rows[name], rows[ref]))
            print(f"{name}: {ref}'s greedy reply on {same} of {args.runs} prompts")


if __name__ == "__main__":
    main()
