"""The embedding model's ONNX export (or its int8 copy) run by OpenVINO, in bfloat16 where the embedder runs in
bfloat16 (CPUs that compute it natively), else in float32.

Optional (`pip install -e '.[openvino]'`): OpenVINO reads the graph `newsqa models pull` exports for ONNX Runtime
(vectorstore/onnx_encoder.py), or the int8 copy `newsqa models quantize` makes of it
(vectorstore/openvino_int8.py; what `document_backend=auto` uses on bf16 CPUs), and compiles it for the CPU with
one infer request per core. On the 2-core AVX-512 BF16 machine of the tenth and eleventh sessions: the export in
bf16 1.6-1.9x PyTorch bf16's chunks/s with vectors closer to float32 (cosine 0.9999 against PyTorch's 0.998:
OpenVINO keeps normalisation and accumulation in float32), the int8 copy 2.2-2.5x (cosine 0.997)
(bench/encoder_backends.py, bench/RESULTS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vectorstore.onnx_encoder import GRAPH, OnnxEncoder, exported_folder, is_exported


class OpenVinoEncoder(OnnxEncoder):
    """Same interface and batching as the ONNX Runtime encoder; batches go to `streams` OpenVINO infer requests
    that run side by side, one thread each (on two cores two streams encoded 1.25x as many chunks per second as
    one stream on two threads, 1.4x for the int8 graph: small batches leave a thread pool idle between
    products), while the caller's thread tokenises the next batches."""

    def __init__(self, folder: str | Path, tokenizer: Any, threads: int = 1, precision: str = "f32",
                 graph: str = GRAPH, streams: int | None = None) -> None:
        import openvino as ov

        core = ov.Core()
        self.precision = precision
        threads = max(1, threads)
        self.streams = max(1, min(streams or threads, threads))
        compiled = core.compile_model(core.read_model(str(Path(folder) / graph)), "CPU", {
            "INFERENCE_PRECISION_HINT": self.precision,
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": self.streams,
        })
        # Batches handed over per call: two in flight on each stream
        self.group = self.BATCH * self.streams * 2
        self._request = compiled.create_infer_request()
        self._queue = ov.AsyncInferQueue(compiled, self.streams)
        self._tokenizer = tokenizer

    def _infer(self, feed: dict):
        import numpy as np

        return np.asarray(next(iter(self._request.infer(feed).values())), dtype=np.float32)

    def encode_many(self, texts: list[str], max_length: int = 2048):
        """Texts in the order given, as unit rows of a numpy array; batches of similar length in flight on
        every stream at once."""
        import numpy as np

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        parts: list[tuple[list[int], Any]] = []

        def finished(request, part: list[int]) -> None:
            parts.append((part, np.array(request.get_output_tensor(0).data, dtype=np.float32)))

        self._queue.set_callback(finished)
        for start in range(0, len(order), self.BATCH):
            part = order[start:start + self.BATCH]
            batch = self._tokenizer([texts[i] for i in part], padding=True, truncation=True,
                                    max_length=max_length, return_tensors="np")
            self._queue.start_async({"input_ids": batch["input_ids"].astype(np.int64),
                                     "attention_mask": batch["attention_mask"].astype(np.int64)}, part)
        self._queue.wait_all()
        if not parts:
            return np.zeros((0, 0), dtype=np.float32)
        out = np.zeros((len(texts), parts[0][1].shape[1]), dtype=np.float32)
        for part, vectors in parts:
            out[part] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def load_openvino_encoder(model_folder: str | Path, tokenizer: Any, threads: int = 1,
                          precision: str = "f32", *, int8: bool = False) -> OpenVinoEncoder:
    """The OpenVINO encoder of a model folder, computing in `precision` ("bf16" or "f32"), or its int8 copy
    (vectorstore/openvino_int8.py) when `int8`; errors name the fix (a missing export, copy or package)."""
    if int8:
        from vectorstore.openvino_int8 import INT8_GRAPH, int8_folder, is_quantized

        if not is_quantized(model_folder):
            raise FileNotFoundError(f"no int8 copy of the embedding model at {int8_folder(model_folder)}: run "
                                    "`newsqa models quantize`, or set document_backend to auto")
        try:
            return OpenVinoEncoder(int8_folder(model_folder), tokenizer, threads, precision, graph=INT8_GRAPH)
        except ImportError as exc:
            raise FileNotFoundError("document_backend=openvino-int8 needs the openvino package: "
                                    "pip install -e '.[openvino]' (or set document_backend to auto)") from exc
    if not is_exported(model_folder):
        raise FileNotFoundError(f"no ONNX export of the embedding model at {exported_folder(model_folder)}: run "
                                "`newsqa models pull`, or set document_backend to auto or torch")
    try:
        return OpenVinoEncoder(exported_folder(model_folder), tokenizer, threads, precision)
    except ImportError as exc:
        raise FileNotFoundError("document_backend=openvino needs the openvino package: "
                                "pip install -e '.[openvino]' (or set document_backend to auto)") from exc
