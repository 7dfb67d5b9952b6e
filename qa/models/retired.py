"""Copies that earlier versions made next to the default models and nothing reads any more (the paths retired on
2026-12-07: the int8 question copy, the OpenVINO chunk and LLM copies, ik_llama.cpp built for the CPU).
`newsqa models list` names them so their disk space can be taken back."""

from __future__ import annotations

from pathlib import Path

from qa.models.onnx_export import folder_size
from qa.models.registry import EMBEDDING_GEMMA, QWEN_CODER_1_5B


def retired_copies(model_dir: Path) -> list[dict[str, object]]:
    """{"path", "size"} of each retired copy present in `model_dir`."""
    embedder, gguf = EMBEDDING_GEMMA.target(model_dir), QWEN_CODER_1_5B.target(model_dir)
    candidates = [embedder.with_name(embedder.name + suffix) for suffix in (".onnx-q8", ".int8")]
    candidates += [gguf.with_name(gguf.name + suffix) for suffix in (".ov-int8", ".ov-w8a8")]
    candidates += sorted(Path(model_dir).glob("ik-llama-*-native-*"))
    return [{"path": str(path), "size": folder_size(path)} for path in candidates if path.is_dir()]
