"""Matryoshka dimensions: retrieval quality, search time and disk at 768/512/256/128 dimensions, in one run.

    python bench/matryoshka.py --index /work/idx/rtqa --dataset ../shared/bench/realtimeqa-dev [--dims 768 256]

No chunk is encoded again: EmbeddingGemma is trained so that the leading dimensions of its vectors carry most
of the meaning, so each variant index is derived from the existing one by cutting its stored vectors and
normalising them again (what ingesting with `embedding_dimensions` would store). Each variant is scored by
`newsqa eval --retrieval-only` on the same questions (hybrid retrieval, the question embedded once per
variant), and its Chroma folder is measured. Prints the machine and versions.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _du(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _pages(collection, size: int = 2000):
    """(ids, vectors, documents, metadatas) of the whole collection, a page at a time."""
    total = collection.count()
    for offset in range(0, total, size):
        got = collection.get(include=["embeddings", "documents", "metadatas"], limit=size, offset=offset)
        yield got["ids"], got["embeddings"], got["documents"], got["metadatas"]


def derive(source_dir: Path, target_dir: Path, dims: int, collection: str = "newsqa") -> float:
    """Copy the index's collection into `target_dir` with vectors cut to `dims`; returns seconds taken."""
    import numpy as np

    from vectorstore.chroma import persistent_client

    start = time.perf_counter()
    source = persistent_client(source_dir).get_collection(collection)
    target = persistent_client(target_dir).get_or_create_collection(collection, metadata={"hnsw:space": "cosine"})
    for ids, vectors, documents, metadatas in _pages(source):
        head = np.asarray(vectors, dtype="float32")[:, :dims]
        head /= np.maximum(np.linalg.norm(head, axis=1, keepdims=True), 1e-12)
        target.upsert(ids=ids, embeddings=head.tolist(), documents=documents, metadatas=metadatas)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True, help="an index folder built with the full 768 dimensions")
    parser.add_argument("--dataset", required=True, help="question set (native or RealTimeQA JSONL, or its folder)")
    parser.add_argument("--dims", type=int, nargs="+", default=[768, 512, 256, 128])
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--keep", action="store_true", help="keep the derived indexes (printed paths)")
    args = parser.parse_args()

    from bench.ingest import machine
    from qa.evaluation import load_dataset, run_eval
    from qa.service import QAService
    from qa.settings import Settings

    dataset = load_dataset(args.dataset)[: args.limit or None]
    full = QAService(settings=Settings(index_dir=args.index)).embeddings
    print(f"machine: {machine()}")
    print(f"index: {args.index}; questions: {len(dataset)} from {args.dataset}")
    print("| dimensions | Hit@1 | Hit@5 | Hit@10 | MRR@10 | answer Hit@5 | dense search p50 ms | retrieval p50 ms | Chroma MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    work = Path(tempfile.mkdtemp(prefix="newsqa-matryoshka-"))
    for dims in args.dims:
        target = work / f"d{dims}"
        took = derive(Path(args.index), target, dims)
        service = QAService(settings=Settings(index_dir=target, embedding_dimensions=dims),
                            embeddings=full.with_dimensions(dims))
        report = run_eval(service, dataset, retrieval_only=True, config_name=f"d{dims}")
        o = report.overall
        stages = o.get("stage_p50_ms") or {}
        print(f"| {dims} | {o['hit@1']:.3f} | {o['hit@5']:.3f} | {o['hit@10']:.3f} | {o['mrr@10']:.3f} | "
              f"{float('nan') if o.get('answer_hit@5') is None else o['answer_hit@5']:.3f} | "
              f"{stages.get('dense_ms', float('nan')):.1f} | {o['retrieve_p50_ms']:.0f} | "
              f"{_du(target):.0f} |", flush=True)
        print(f"  (derived in {took:.0f} s: {target})", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
