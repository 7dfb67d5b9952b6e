"""Retrieval latency at 1k, 10k and 100k chunks, embedded Chroma versus a Chroma server, in one run.

    python bench/query.py [--sizes 1000 10000 100000] [--queries 30] [--server] [--encoders onnx torch]

The store part is synthetic, and says so: chunk texts come from the realtimeqa corpus (real news, chunked the
way ingestion chunks it, repeated with new ids past its ~38k chunks), vectors are random unit vectors of the
embedder's 768 dimensions, dates are spread over 2015–2022. Per size it builds the index once per store kind
(build time and disk reported), then times for each question: dense search with the as-of filter (handed to Chroma,
and judged by the keyword index's columns as retrieval does), BM25 (the keyword index built over the same chunks),
and the whole retrieval with the product's retriever settings (fusion, per-article cap, sentence window) and the
real question embedding, once per `--encoders` runtime, taking turns.
Answer latency and time to first token do not depend on index size; `--answers N` also streams N answers with the
real LLM over data/sample (time until the passages are shown, first token, whole answer). Prints the machine and
versions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
CORPUS = ROOT.parent / "shared" / "bench" / "realtimeqa-dev" / "corpus.jsonl"
QUESTIONS = ROOT.parent / "shared" / "bench" / "realtimeqa-dev" / "questions.jsonl"


def _texts(n: int) -> list[tuple[str, str]]:
    from qa.ingest.chunking import Chunker
    from qa.ingest.loaders import record_to_article

    chunker = Chunker(600, 100)
    base: list[tuple[str, str]] = []
    for i, line in enumerate(CORPUS.open(encoding="utf-8")):
        article = record_to_article(json.loads(line), CORPUS, i + 1)
        base.extend((c.text, article.title or "") for c in chunker.split(article))
        if len(base) >= n:
            break
    return [base[i % len(base)] for i in range(n)]


def _records(n: int, dim: int, seed: int = 7):
    import numpy as np

    from vectorstore.base import Record

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    days = rng.integers(date(2015, 1, 1).toordinal(), date(2022, 8, 12).toordinal(), n)
    records = []
    for i, ((text, title), day) in enumerate(zip(_texts(n), days)):
        d = date.fromordinal(int(day))
        meta = {"article_id": f"a{i // 20}", "position": i % 20, "title": title, "source": "bench",
                "published": d.isoformat(), "published_int": int(d.strftime("%Y%m%d")), "language": "en",
                "url": "", "article_hash": "h"}
        records.append(Record(f"c{i:07d}", text, meta))
    return records, vectors


class _Fixed:
    """An 'embedder' that hands out the precomputed vectors in order (the store part stays synthetic)."""

    def __init__(self, vectors):
        self.vectors = vectors
        self.i = 0

    def embed_documents(self, texts):
        out = self.vectors[self.i:self.i + len(texts)].tolist()
        self.i += len(texts)
        return out

    def embed_query(self, text):
        raise RuntimeError("questions are embedded with the real model in this benchmark, not with stored vectors")



def _start_server(path: Path):
    import httpx
    from load_askers import free_port

    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("chroma")), "run", "--path", str(path),
                             "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("chroma run did not start")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def _rss_mb(pid: int | str = "self") -> float:
    """A process's resident memory now (Linux), in MB; 0 where /proc is missing."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _du(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--server", action="store_true", help="also measure a Chroma server (chroma run)")
    parser.add_argument("--answers", type=int, default=0,
                        help="stream N real answers (data/eval/sample_qa.jsonl over data/sample)")
    parser.add_argument("--encoders", nargs="+", default=None, choices=["torch", "onnx"],
                        help="time the whole retrieval once per question encoder, taking turns per question; the "
                        "first is the baseline of the ratio (default: the one auto picks)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="build each index under this folder and keep it; a later run with the same --keep "
                             "reuses a complete one instead of building it again (build s then reads 'reused')")
    args = parser.parse_args()

    from bench.ingest import machine
    from qa.retrieve.dates import parse_as_of
    from qa.factory import build_retriever
    from qa.retrieve.retriever import as_of_filter
    from qa.service import QAService
    from qa.settings import Settings
    from qa.types import Answer, Retrieved
    from vectorstore.chroma import ChromaVectorStore, http_client, persistent_client
    from vectorstore.keyword import KeywordIndex

    questions = [json.loads(line) for line in QUESTIONS.open()][: args.queries]
    service = QAService(settings=Settings(index_dir=Path(tempfile.mkdtemp())))
    embeddings = service.embeddings
    qvecs = [embeddings.embed_query(q["question"]) for q in questions]  # warm, and reused for the store timings
    print(f"machine: {machine()}")
    backends = args.encoders or [embeddings.query_backend]
    askers = {name: embeddings.with_encoder(name) for name in backends}
    for asker in askers.values():
        asker.embed_query(questions[0]["question"])  # warm
    print("| chunks | store | build s | disk MB | dense, Chroma's filter p50/p95 ms "
          "| dense, keyword index's filter p50/p95 ms "
          "| BM25 p50/p95 ms | questions | query embedding p50 ms | retrieve p50/p95 ms | vs first "
          "| RSS after build MB (bench + server) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        records, vectors = _records(size, len(qvecs[0]))
        kinds = ["embedded"] + (["server"] if args.server else [])
        for kind in kinds:
            if args.keep is not None:
                work = args.keep / f"{kind}-{size}"
                work.mkdir(parents=True, exist_ok=True)
            else:
                work = Path(tempfile.mkdtemp(prefix=f"newsqa-q{size}-"))
            proc = None
            if kind == "server":
                proc, url = _start_server(work / "chroma")
                client = http_client(url)
            else:
                client = persistent_client(work / "chroma")
            fixed = _Fixed(vectors)
            store = ChromaVectorStore(client, fixed, collection="bench")
            keyword = KeywordIndex(work / "keyword")
            done = work / "complete"
            build_text = "reused"
            if not done.exists():
                # A stopped build resumes: ids are inserted in order, a batch is one Chroma write, and
                # upserting the last batch again is harmless. The build time then counts only this run's part.
                resume = max(0, store.count() // 2000 - 1) * 2000 if args.keep is not None else 0
                fixed.i = resume
                start = time.perf_counter()
                for i in range(resume, size, 2000):
                    store.upsert(records[i:i + 2000])
                    if (i // 2000) % 25 == 0:
                        stored, spent = min(i + 2000, size), time.perf_counter() - start
                        print(f"  {kind} {size:,}: {stored:,} stored, {spent:.0f} s", file=sys.stderr, flush=True)
                keyword.build(records)
                build_text = f"{time.perf_counter() - start:.0f}" + (f" (resumed at {resume:,})" if resume else "")
                if args.keep is not None:
                    done.write_text(build_text)
            elif not keyword.load():  # saved by an older version (without the chunks' places): build it again
                keyword.build(records)
            # This process holds the synthetic records and vectors too; a server's index is in its own process.
            rss = _rss_mb() + (_rss_mb(proc.pid) if proc is not None else 0.0)
            # The product's retriever (settings' fusion, per-article cap, sentence window); no translator: the
            # corpus is English only, so none would be asked for.
            retrievers = {name: build_retriever(service.settings, store, asker, keyword)
                          for name, asker in askers.items()}
            chroma_filter, dense, bm25 = [], [], []
            whole: dict[str, list[float]] = {name: [] for name in askers}
            embed: dict[str, list[float]] = {name: [] for name in askers}
            for q, qv in zip(questions, qvecs):
                as_of = parse_as_of(q["as_of"])
                where = as_of_filter(as_of)
                t = time.perf_counter()
                store._query(qv, 40, where)  # the as-of filter handed to Chroma (the store's earlier way)
                chroma_filter.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                # unfiltered ids-only search judged by the keyword index's columns, as retrieval does (falls back
                # to Chroma's filter if too few pass)
                store.search(qv, k=40, where=where, keep=lambda ids, where=where: keyword.matching(ids, where))
                dense.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                keyword.search(next(iter(retrievers.values()))._keyword_tokens([q["question"]]), 40, where)
                bm25.append((time.perf_counter() - t) * 1000)
                for name, retriever in retrievers.items():  # taking turns, so a slow spell hits each alike
                    t = time.perf_counter()
                    retriever.retrieve(q["question"], as_of, timings=(stages := {}))
                    whole[name].append((time.perf_counter() - t) * 1000)
                    embed[name].append(stages["embed_ms"])
            first = _pct(whole[backends[0]], 50)
            for name in backends:
                print(f"| {size:,} | {kind} | {build_text} | {_du(work):.0f} "
                      f"| {_pct(chroma_filter, 50):.1f} / {_pct(chroma_filter, 95):.1f} "
                      f"| {_pct(dense, 50):.1f} / {_pct(dense, 95):.1f} "
                      f"| {_pct(bm25, 50):.1f} / {_pct(bm25, 95):.1f} | {name} | {_pct(embed[name], 50):.0f} "
                      f"| {_pct(whole[name], 50):.0f} / {_pct(whole[name], 95):.0f} "
                      f"| {_pct(whole[name], 50) / first:.2f}x | {rss:.0f} |", flush=True)
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)

    if args.answers:
        sample = Path(tempfile.mkdtemp(prefix="newsqa-answers-"))
        qs = [json.loads(line) for line in (ROOT / "data/eval/sample_qa.jsonl").open()][: args.answers]
        svc = QAService(settings=Settings(index_dir=sample), embeddings=embeddings)
        svc.ingest([ROOT / "data" / "sample"])
        svc.llm.load()
        shown, ttft, total, tokens = [], [], [], []
        for q in qs:
            start = time.perf_counter()
            first = None
            for item in svc.stream_events(q["question"], as_of=q.get("as_of")):
                if isinstance(item, Retrieved):  # the chat page lists these while the model reads them
                    shown.append(time.perf_counter() - start)
                elif first is None and isinstance(item, str) and item.strip():
                    first = time.perf_counter() - start
                elif isinstance(item, Answer):
                    tokens.append(item.tokens.get("prompt", 0))
            total.append(time.perf_counter() - start)
            ttft.append(first if first is not None else total[-1])
        print(f"answers over data/sample ({len(qs)}): passages shown p50 {statistics.median(shown):.2f} s, p95 "
              f"{_pct(shown, 95):.2f} s; first token p50 {statistics.median(ttft):.1f} s, p95 {_pct(ttft, 95):.1f} s; "
              f"whole answer p50 {statistics.median(total):.1f} s, p95 {_pct(total, 95):.1f} s; prompt tokens mean "
              f"{statistics.mean(tokens):.0f}", flush=True)


if __name__ == "__main__":
    main()
