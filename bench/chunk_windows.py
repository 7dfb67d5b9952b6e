"""Chunk windows: how much encoder work a corpus costs with each chunk size and overlap, in one run.

    python bench/chunk_windows.py ../shared/bench/realtimeqa-dev/corpus.jsonl --limit 24
    python bench/chunk_windows.py CORPUS --windows 600:100 600:0 800:0 400:50

Issue 6 lists shorter chunk windows among the ways to raise ingestion throughput. A window changes what a chunk
is, so chunks/s alone says little: a shorter window gives more chunks a second and more chunks to embed. This
script chunks the same articles with each window (`chunk_size:chunk_overlap`, characters), builds the exact
encoder inputs the pipeline would (document template with the title), counts the encoder's tokens, and encodes
them with the configured chunk encoder (`document_backend`, `auto` by default). The baseline is PyTorch bf16 at
the settings' own window, timed first and again last (the mean is used; both are printed). Per window it prints
chunks, tokens, chunks/s, articles/s and the ratio of articles/s to the baseline's, which is the figure a user
waits on. Retrieval quality with a window needs a whole index: `newsqa ingest` with NEWSQA_CHUNK_SIZE /
NEWSQA_CHUNK_OVERLAP, then `newsqa eval --retrieval-only` (bench/RESULTS.md says what was measured).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import machine, subset


def window(text: str) -> tuple[int, int]:
    size, _, overlap = text.partition(":")
    return int(size), int(overlap or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--limit", type=int, default=24, help="first N records of a JSONL corpus (default 24)")
    parser.add_argument("--windows", nargs="+", type=window, default=[(600, 100), (600, 0), (800, 0), (400, 50)],
                        help="chunk_size:chunk_overlap pairs, in characters (default 600:100 600:0 800:0 400:50)")
    args = parser.parse_args()

    from qa.chunking import Chunker
    from qa.ingest import encoder_text
    from qa.loaders import iter_files, load_file
    from qa.service import QAService
    from qa.settings import Settings
    from qa.types import Article

    work = Path(tempfile.mkdtemp(prefix="newsqa-bench-windows-"))
    corpus = subset(args.corpus, args.limit, work)
    settings = Settings(index_dir=work / "index")
    embeddings = QAService(settings=settings).embeddings
    tokenizer = embeddings.model.tokenizer
    articles = [a for p in iter_files([corpus]) if isinstance(p, Path) for a in load_file(p) if isinstance(a, Article)]

    def inputs_for(size: int, overlap: int) -> list[str]:
        chunker = Chunker(size, overlap, settings.splitter)
        chunks = [c for a in articles for c in chunker.split(a)]
        return [encoder_text(c, settings.document_template) or c.text for c in chunks]

    def count_tokens(inputs: list[str]) -> int:
        # as the encoder reads them: cut at its longest sequence (the templated inputs carry their own prompt)
        longest = getattr(embeddings.model, "max_seq_length", None)
        encoded = tokenizer(inputs, truncation=longest is not None, max_length=longest)
        return sum(len(ids) for ids in encoded["input_ids"])

    def timed(embedder, inputs: list[str]) -> float:
        encode = embedder.embed_raw if settings.document_template else embedder.embed_documents
        encode(inputs[:4])  # warm-up
        begin = time.perf_counter()
        encode(inputs)
        return time.perf_counter() - begin

    default = (settings.chunk_size, settings.chunk_overlap)
    baseline_inputs = inputs_for(*default)
    torch = embeddings.with_document_backend("torch")
    first = timed(torch, baseline_inputs)
    measured = []
    for size, overlap in args.windows:
        inputs = inputs_for(size, overlap)
        tokens = count_tokens(inputs)
        measured.append((size, overlap, len(inputs), tokens, timed(embeddings, inputs)))
    last = timed(torch, baseline_inputs)
    base_s = (first + last) / 2
    base_tokens = count_tokens(baseline_inputs)

    n = len(articles)
    print(f"machine: {machine()}")
    limited = corpus != args.corpus  # only a JSONL corpus is cut to its first records
    print(f"corpus: {args.corpus}" + (f" (first {args.limit})" if limited else "") + f", {n} articles")
    print(f"baseline: PyTorch bf16 at {default[0]}:{default[1]}, {len(baseline_inputs)} chunks, {base_tokens} "
          f"tokens, {first:.1f} s then {last:.1f} s: {len(baseline_inputs) / base_s:.2f} chunks/s, "
          f"{n / base_s:.3f} articles/s")
    print("| window | encoder | chunks | tokens | s | chunks/s | articles/s | chunks/s vs baseline | "
          "articles/s vs baseline |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, overlap, chunks, tokens, seconds in measured:
        per_chunk = (chunks / seconds) / (len(baseline_inputs) / base_s)
        print(f"| {size}:{overlap} | {embeddings.document_backend} | {chunks} | {tokens} | {seconds:.1f} | "
              f"{chunks / seconds:.2f} | {n / seconds:.3f} | {per_chunk:.2f}x | {base_s / seconds:.2f}x |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
