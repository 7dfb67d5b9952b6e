"""What `newsqa models list` shows besides the default models: the copies derived from them on this machine (the
ONNX export, the int8 encoders, the LLM's OpenVINO copies), where they are, how much disk they take, and which
setting uses them. `auto` settings switch to some of them once they exist, so a user can see why."""

from __future__ import annotations

from pathlib import Path

from qa.models import EMBEDDING_GEMMA, QWEN_CODER_1_5B


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def derived_copies(model_dir: Path) -> list[dict[str, object]]:
    """One row per copy the default models can have: name, made from, present, path, size (bytes), used by."""
    from qa.llm_ir import ir_folder, is_converted
    from vectorstore.onnx_encoder import exported_folder, is_exported
    from vectorstore.onnx_question_int8 import is_question_quantized, question_int8_folder
    from vectorstore.openvino_int8 import int8_folder, is_quantized

    embedder = EMBEDDING_GEMMA.target(model_dir)
    gguf = QWEN_CODER_1_5B.target(model_dir)
    copies = [
        ("ONNX export", embedder, exported_folder(embedder), is_exported(embedder),
         "questions (query_backend onnx / auto) and, in float32, chunks (document_backend onnx, openvino, auto)"),
        ("int8 question encoder", embedder, question_int8_folder(embedder), is_question_quantized(embedder),
         "questions (query_backend onnx-int8, and auto once made: `newsqa models quantize --questions`)"),
        ("int8 chunk encoder (OpenVINO)", embedder, int8_folder(embedder), is_quantized(embedder),
         "chunks (document_backend openvino-int8, and auto on bf16 CPUs: `newsqa models quantize`)"),
        ("int8 LLM copy (OpenVINO)", gguf, ir_folder(gguf, "int8"), is_converted(gguf, "int8"),
         "the openvino LLM runtime (llm_openvino_weights int8 / auto: `newsqa models quantize-llm`)"),
        ("w8a8 LLM copy (OpenVINO)", gguf, ir_folder(gguf, "w8a8"), is_converted(gguf, "w8a8"),
         "llm_openvino_weights w8a8 only (`newsqa models quantize-llm --w8a8`)"),
    ]
    return [{"name": name, "made_from": source.name, "present": present, "path": str(path),
             "size": _size(path) if present else 0, "used_by": used}
            for name, source, path, present, used in copies]


def question_copy_line(folder: Path) -> str:
    """What `newsqa models pull` says about the int8 question copy (opt-in until realtimeqa confirms it)."""
    from vectorstore.onnx_question_int8 import auto_uses_copy, is_question_quantized, question_int8_folder

    if auto_uses_copy(folder):
        return f"int8 question encoder: present, used by query_backend=auto -> {question_int8_folder(folder)}"
    if is_question_quantized(folder):
        return ("int8 question encoder: made from an earlier export, not used: run `newsqa models quantize "
                "--questions` to make it again")
    return ("int8 question encoder: not made (optional: `newsqa models quantize --questions`, about a minute; "
            "questions then take ~0.67x the time)")
