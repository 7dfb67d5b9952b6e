"""The one copy derived from the default models on this machine: the embedding model's ONNX export, which
ONNX Runtime runs for questions (about twice as fast as PyTorch) and, on CPUs without native bf16, for chunks
(1.4x PyTorch float32 on 2 AVX2 cores, same vectors). `newsqa models pull` makes it; `newsqa models list` shows
it. qa/models/registry.py assembles and verifies the pulled files it comes from."""

from __future__ import annotations

import time
from pathlib import Path

from qa.models.registry import EMBEDDING_GEMMA


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def derived_copies(model_dir: Path) -> list[dict[str, object]]:
    """One row per copy the default models can have: name, made from, present, path, size (bytes), used by."""
    from vectorstore.onnx_encoder import exported_folder, is_exported

    embedder = EMBEDDING_GEMMA.target(model_dir)
    path, present = exported_folder(embedder), is_exported(embedder)
    return [{"name": "ONNX export", "made_from": embedder.name, "present": present, "path": str(path),
             "size": folder_size(path) if present else 0,
             "used_by": "questions (encoder onnx / auto) and chunks on CPUs without native bf16 (encoder onnx / auto)"}]


def export_encoder_onnx(folder: Path, threads: int) -> str:
    """Export the embedding model to ONNX for fast question and chunk encoding (once; a line saying what happened).
    Missing export packages are not an error: the model then runs on PyTorch."""
    from vectorstore.onnx_encoder import exported_folder, is_exported

    target = exported_folder(folder)
    if is_exported(folder):
        return f"ONNX encoder: already exported -> {target}"
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        return f"ONNX encoder: skipped ({exc.name} is not installed); the model runs on PyTorch"
    from qa.factory import offline_environment
    from vectorstore.embeddings import SentenceTransformerEmbeddings
    from vectorstore.onnx_encoder import export_encoder

    offline_environment()
    start = time.perf_counter()
    embeddings = SentenceTransformerEmbeddings(folder, dtype="float32", encoder="torch", threads=threads)
    try:
        export_encoder(embeddings.model, folder)
    except Exception as exc:  # the exporter's failures are many and internal; PyTorch still works
        return f"ONNX encoder: export failed ({type(exc).__name__}: {exc}); the model runs on PyTorch"
    return f"ONNX encoder: exported in {time.perf_counter() - start:.0f} s -> {target}"
