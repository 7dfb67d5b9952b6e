"""Chunk encoding speed of the embedder's backends on the same realtimeqa chunks, in one run.

    python bench/encoder_backends.py [--chunks 64]

PyTorch in bfloat16 (what `document_backend=auto` runs on CPUs with native bf16) is the baseline; against it:
PyTorch float32, ONNX Runtime float32 (the export `newsqa models pull` makes), and OpenVINO over the same export
in bf16 and f32 (`pip install -e '.[openvino]'`), one infer request on all threads or one per thread, and
the int8 copy `newsqa models quantize` makes. Each runs through the product's own encoder classes, sorted
by length, in its own best batch size. Prints chunks/s, the ratio to PyTorch bf16 and the cosine of each
backend's vectors to PyTorch float32's (min and mean): a faster variant must also keep the vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / "realtimeqa-dev" / "corpus.jsonl"


def chunks(n: int) -> list[str]:
    """`n` chunk-sized (~600-character) pieces of realtimeqa articles, in the document format ingestion uses."""
    out: list[str] = []
    with CORPUS.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i < 900:
                continue
            text = json.loads(line).get("text", "")
            out += [text[j:j + 600] for j in range(0, min(len(text), 2400), 600) if len(text[j:j + 600]) > 100]
            if len(out) >= n:
                break
    return ["title: none | text: " + t for t in out[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="time only the backends whose name contains one of these (torch bf16 and fp32, the "
                        "baseline and the reference, always run), e.g. --only 'int8, 2'")
    args = parser.parse_args()
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from qa.settings import Settings, cpu_has_native_bf16
    from vectorstore.onnx_encoder import OnnxEncoder, exported_folder

    settings = Settings()
    folder = settings.model_dir / "embeddinggemma-300m"
    threads = settings.resolved_threads()
    torch.set_num_threads(threads)
    texts = chunks(args.chunks)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    versions = ", ".join(f"{name} {installed(name)}" for name in ("onnxruntime", "openvino", "nncf"))
    print(f"machine: {os.cpu_count()} cores, {cpu}, native bf16: {cpu_has_native_bf16()}; torch {torch.__version__}, "
          f"{versions}; {len(texts)} chunks of {sum(map(len, texts)) / len(texts):.0f} characters on average")

    def torch_encoder(dtype):
        model = SentenceTransformer(str(folder), device="cpu", model_kwargs={"torch_dtype": dtype})
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))

        def encode() -> np.ndarray:
            out = np.zeros((len(texts), 768), dtype=np.float32)
            for start in range(0, len(order), 16):
                part = order[start:start + 16]
                out[part] = model.encode([texts[i] for i in part], batch_size=16, normalize_embeddings=True,
                                         convert_to_numpy=True).astype(np.float32)
            return out
        return encode, model.tokenizer

    encoders = {}
    encoders["torch bf16"], tokenizer = torch_encoder(torch.bfloat16)
    encoders["torch fp32"], _ = torch_encoder(torch.float32)
    export = exported_folder(folder)
    if export.is_dir():
        ort = OnnxEncoder(export, tokenizer, threads)
        encoders["onnxruntime fp32"] = lambda: ort.encode_many(texts, 2048)
        try:
            from vectorstore.openvino_encoder import OpenVinoEncoder

            from vectorstore.openvino_int8 import INT8_GRAPH, int8_folder, is_quantized

            for precision in ("bf16", "f32"):
                for streams in (1, threads) if threads > 1 else (1,):
                    ov = OpenVinoEncoder(export, tokenizer, threads, precision, streams=streams)
                    encoders[f"openvino {precision}, {streams} stream(s)"] = lambda ov=ov: ov.encode_many(texts, 2048)
            if is_quantized(folder):
                for streams in (1, threads) if threads > 1 else (1,):
                    ov = OpenVinoEncoder(int8_folder(folder), tokenizer, threads, "bf16" if cpu_has_native_bf16()
                                         else "f32", graph=INT8_GRAPH, streams=streams)
                    encoders[f"openvino int8, {streams} stream(s)"] = lambda ov=ov: ov.encode_many(texts, 2048)
            else:
                print(f"no int8 copy at {int8_folder(folder)}: run `newsqa models quantize`")
        except ImportError:
            print("openvino is not installed: pip install -e '.[openvino]'")
    else:
        print(f"no ONNX export at {export}: run `newsqa models pull`")
    if args.only:
        encoders = {name: encode for name, encode in encoders.items()
                    if name in ("torch bf16", "torch fp32") or any(part in name for part in args.only)}
    results = {}
    for name, encode in encoders.items():
        encode()  # warm-up (one full pass: compiled kernels, allocations)
        start = time.perf_counter()
        vectors = encode()
        results[name] = (len(texts) / (time.perf_counter() - start), vectors)
    base = results["torch bf16"][0]
    reference = results["torch fp32"][1]
    print("\n| backend | chunks/s | vs torch bf16 | cosine to torch fp32 (min / mean) |")
    print("|---|---|---|---|")
    for name, (speed, vectors) in results.items():
        cos = (vectors * reference).sum(axis=1)
        print(f"| {name} | {speed:.2f} | {speed / base:.2f}x | {cos.min():.4f} / {cos.mean():.4f} |")


if __name__ == "__main__":
    main()
