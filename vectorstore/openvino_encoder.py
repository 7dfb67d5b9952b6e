"""The embedding model's ONNX export run by OpenVINO, in bfloat16 where the embedder runs in bfloat16 (CPUs that
compute it natively), else in float32.

An optional document backend (`document_backend=openvino`, `pip install -e '.[openvino]'`): OpenVINO reads the
graph `newsqa models pull` exports for ONNX Runtime (vectorstore/onnx_encoder.py) and compiles it for the CPU.
On the AVX-512 BF16 machine of the tenth session it encoded realtimeqa chunks 1.5x as fast as PyTorch in
bfloat16 (today's `auto` there), with vectors closer to float32 ones (cosine 0.9999 against PyTorch's 0.998):
OpenVINO keeps normalisation and accumulation in float32 (bench/encoder_backends.py, bench/RESULTS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vectorstore.onnx_encoder import GRAPH, OnnxEncoder, exported_folder, is_exported


class OpenVinoEncoder(OnnxEncoder):
    """Same interface and batching as the ONNX Runtime encoder; the graph runs in an OpenVINO infer request."""

    def __init__(self, folder: str | Path, tokenizer: Any, threads: int = 1, precision: str = "f32") -> None:
        import openvino as ov

        core = ov.Core()
        self.precision = precision
        compiled = core.compile_model(core.read_model(str(Path(folder) / GRAPH)), "CPU", {
            "INFERENCE_PRECISION_HINT": self.precision,
            "INFERENCE_NUM_THREADS": max(1, threads),
            "PERFORMANCE_HINT": "LATENCY",
        })
        self._request = compiled.create_infer_request()
        self._tokenizer = tokenizer

    def _infer(self, feed: dict):
        import numpy as np

        return np.asarray(next(iter(self._request.infer(feed).values())), dtype=np.float32)


def load_openvino_encoder(model_folder: str | Path, tokenizer: Any, threads: int = 1,
                          precision: str = "f32") -> OpenVinoEncoder:
    """The OpenVINO encoder of a model folder, computing in `precision` ("bf16" or "f32"); errors name the fix
    (a missing export or package)."""
    if not is_exported(model_folder):
        raise FileNotFoundError(f"no ONNX export of the embedding model at {exported_folder(model_folder)}: run "
                                "`newsqa models pull`, or set document_backend to auto or torch")
    try:
        return OpenVinoEncoder(exported_folder(model_folder), tokenizer, threads, precision)
    except ImportError as exc:
        raise FileNotFoundError("document_backend=openvino needs the openvino package: "
                                "pip install -e '.[openvino]' (or set document_backend to auto)") from exc
