"""Embedding speed of the default embedder in float32 vs bfloat16 on this CPU, in one run.

    python bench/embed_dtype.py

Decides what `embedding_dtype=auto` should pick. Needs `newsqa models pull`.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.settings import Settings, cpu_has_native_bf16  # noqa: E402

SEED = Path(__file__).resolve().parent.parent / "data" / "sample" / "2025-04-29_iberian-blackout.html"


def main() -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    settings = Settings()
    folder = settings.model_dir / "embeddinggemma-300m"
    words = SEED.read_text(encoding="utf-8").split()
    texts = [" ".join(words[i:i + 100]) for i in range(0, 1200, 100)][:12]  # ~600-character chunks
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, native bf16: {cpu_has_native_bf16()}, "
          f"torch {torch.__version__}")
    rows = []
    for name in ("float32", "bfloat16"):
        model = SentenceTransformer(str(folder), device="cpu", model_kwargs={"torch_dtype": getattr(torch, name)})
        model.encode(texts[:2], prompt_name="document")
        torch.set_num_threads(os.cpu_count() or 1)
        start = time.perf_counter()
        model.encode(texts, prompt_name="document", batch_size=16)
        docs = len(texts) / (time.perf_counter() - start)
        torch.set_num_threads(1)
        start = time.perf_counter()
        for _ in range(5):
            model.encode("When did Bessent last meet He Lifeng?", prompt_name="query")
        query_ms = (time.perf_counter() - start) / 5 * 1000
        rows.append((name, docs, query_ms))
    base = rows[0][1]
    print("| dtype | chunks/s | vs float32 | one query (1 thread) |")
    print("|---|---|---|---|")
    for name, docs, query_ms in rows:
        print(f"| {name} | {docs:.2f} | {docs / base:.2f}x | {query_ms:.0f} ms |")


if __name__ == "__main__":
    main()
