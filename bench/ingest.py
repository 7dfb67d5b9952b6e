"""Ingestion throughput: the whole pipeline versus the bare encoder on the same chunks, in one run.

    python bench/ingest.py data/sample
    python bench/ingest.py ../shared/bench/realtimeqa-dev/corpus.jsonl --limit 40

Loads and chunks the articles (timed), encodes the exact encoder inputs the pipeline will produce with the bare
model (the baseline), then runs `QAService.ingest` into a fresh index (load, chunk, embed, write to Chroma,
keyword index). Prints articles/s, chunks/s, the pipeline/encoder ratio, peak memory, the machine and versions.
When chunks go through ONNX Runtime (the `encoder` setting), the same inputs are also encoded by PyTorch in the
same run, and the encoder/PyTorch speed ratio and the lowest cosine between their vectors are printed.
`--limit N` takes the first N records of a JSONL file (the whole 1,660-article corpus takes hours on 2 cores).

Through an embedding server (`embedding_backend openai`), in the same run:

    python bench/ingest.py data/sample --server                  # Infinity on a loopback port (`make servers`)
    python bench/ingest.py data/sample --server-url http://gpu-box:7997/v1

the same inputs are encoded through the server one request at a time and with newsqa's concurrent batches,
and the whole pipeline ingests into a second fresh index through it; chunks/s of each are printed beside the
local encoder's, with the lowest cosine between server and local vectors. A server on the same 2 cores shares
them with newsqa, so it shows the overhead of the protocol, not a GPU's speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def machine() -> str:
    import chromadb
    import sentence_transformers
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {cpu}; python {platform.python_version()}, torch {torch.__version__}, "
            f"sentence-transformers {sentence_transformers.__version__}, chromadb {chromadb.__version__}")


def subset(path: Path, limit: int | None, folder: Path) -> Path:
    """The first `limit` records of a JSONL corpus, copied into `folder`; any other path as it is."""
    if not limit or path.suffix != ".jsonl":
        return path
    target = folder / path.name
    with path.open(encoding="utf-8") as src, target.open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i >= limit:
                break
            dst.write(line)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--limit", type=int, help="first N records of a JSONL corpus")
    parser.add_argument("--server", action="store_true",
                        help="also through Infinity serving the same model on a loopback port (make servers)")
    parser.add_argument("--server-url", help="also through this OpenAI-compatible embedding server (its /v1 URL)")
    parser.add_argument("--server-model", default="embeddinggemma-300m", help="the model name the server serves")
    args = parser.parse_args()

    from qa.ingest.chunking import Chunker
    from qa.ingest.pipeline import encoder_text
    from qa.ingest.loaders import iter_files, load_file
    from qa.service import QAService
    from qa.settings import Settings
    from qa.types import Article

    work = Path(tempfile.mkdtemp(prefix="newsqa-bench-ingest-"))
    corpus = subset(args.corpus, args.limit, work)
    settings = Settings(index_dir=work / "index")
    service = QAService(settings=settings)
    embeddings = service.embeddings  # loaded once, outside both timings

    start = time.perf_counter()
    articles = [a for p in iter_files([corpus]) if isinstance(p, Path) for a in load_file(p) if isinstance(a, Article)]
    chunker = Chunker(settings.chunk_size, settings.chunk_overlap, service.recipe.splitter)
    chunks = [c for a in articles for c in chunker.split(a)]
    prepare_s = time.perf_counter() - start
    template = service.recipe.document_template
    inputs = [encoder_text(c, template) or c.text for c in chunks]

    def timed(embedder):
        encode = embedder.embed_raw if template else embedder.embed_documents
        encode(inputs[:4])  # warm-up
        begin = time.perf_counter()
        vectors = encode(inputs)
        return time.perf_counter() - begin, vectors

    backend = embeddings.document_backend
    bare_s, vectors = timed(embeddings)
    torch_s, torch_vectors = timed(embeddings.with_encoder("torch")) if backend != "torch" else (bare_s, vectors)
    lowest_cosine = min((sum(a * b for a, b in zip(u, v)) for u, v in zip(vectors, torch_vectors)), default=1.0)

    start = time.perf_counter()
    report = service.ingest([corpus])
    pipeline_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    n_articles, n_chunks = len(articles), len(chunks)
    assert report.chunks_written == n_chunks, (report.chunks_written, n_chunks)
    rows = {
        "corpus": f"{args.corpus}" + (f" (first {args.limit})" if args.limit else ""),
        "articles": n_articles, "chunks": n_chunks,
        "load+chunk s": round(prepare_s, 2),
        "bare PyTorch chunks/s": round(n_chunks / torch_s, 2),
        f"bare encoder ({backend}) chunks/s": round(n_chunks / bare_s, 2),
        "encoder / PyTorch": round(torch_s / bare_s, 2),
        "min cosine to PyTorch": round(lowest_cosine, 6),
        "pipeline chunks/s": round(n_chunks / pipeline_s, 2),
        "pipeline articles/s": round(n_articles / pipeline_s, 2),
        "pipeline / encoder": round(bare_s / pipeline_s, 3),
        "peak RSS MB": round(peak_mb),
    }
    if args.server or args.server_url:
        rows.update(through_server(args, settings, service, corpus, inputs, vectors, n_chunks, bare_s, work))
    print(f"machine: {machine()}")
    print("| " + " | ".join(rows) + " |")
    print("|" + "---|" * len(rows))
    print("| " + " | ".join(str(v) for v in rows.values()) + " |")
    print(json.dumps(rows))


def through_server(args, settings, service, corpus: Path, inputs: list[str], local_vectors, n_chunks: int,
                   local_s: float, work: Path) -> dict:
    """The same inputs and the same corpus through an embedding server: bare (one request at a time, then
    newsqa's concurrent batches) and the whole pipeline into a fresh index."""
    from contextlib import nullcontext

    from qa.factory import resolve_model
    from qa.service import QAService

    if args.server_url:
        running = nullcontext(args.server_url)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from model_servers import infinity_server

        folder = resolve_model(settings.embedding_model, settings, "embedding")
        running = infinity_server(folder, work, name=args.server_model)
    with running as url:
        remote = settings.model_copy(update={"index_dir": work / "index-server", "embedding_backend": "openai",
                                             "embedding_base_url": url, "embedding_model": args.server_model})
        served = QAService(settings=remote)
        embedder = served.embeddings
        embedder.embed_raw(inputs[:4])  # warm-up
        concurrency = embedder._concurrency
        embedder._concurrency = 1
        begin = time.perf_counter()
        embedder.embed_raw(inputs)
        serial_s = time.perf_counter() - begin
        embedder._concurrency = concurrency
        begin = time.perf_counter()
        remote_vectors = embedder.embed_raw(inputs)
        concurrent_s = time.perf_counter() - begin
        begin = time.perf_counter()
        report = served.ingest([corpus])
        pipeline_s = time.perf_counter() - begin
    assert report.chunks_written == n_chunks, (report.chunks_written, n_chunks)
    lowest = min((sum(a * b for a, b in zip(u, v)) for u, v in zip(local_vectors, remote_vectors)), default=1.0)
    return {
        "server": "loopback Infinity" if not args.server_url else args.server_url,
        "server one-at-a-time chunks/s": round(n_chunks / serial_s, 2),
        f"server x{concurrency} chunks/s": round(n_chunks / concurrent_s, 2),
        "server pipeline chunks/s": round(n_chunks / pipeline_s, 2),
        "server / local encoder": round(local_s / concurrent_s, 2),
        "min cosine server-local": round(lowest, 6),
    }


if __name__ == "__main__":
    main()
