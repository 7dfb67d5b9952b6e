"""The embedding model's ONNX export (or its int8 copy) run by OpenVINO, in bfloat16 where the embedder runs in
bfloat16 (CPUs that compute it natively), else in float32.

Optional (`pip install -e '.[openvino]'`): OpenVINO reads the graph `newsqa models pull` exports for ONNX Runtime
(vectorstore/onnx_encoder.py), or the int8 copy `newsqa models quantize` makes of it
(vectorstore/openvino_int8.py; what `document_backend=auto` uses on bf16 CPUs), and compiles it for the CPU with
one infer request per core. On the 2-core AVX-512 BF16 machine of the tenth and eleventh sessions: the export in
bf16 1.6-1.9x PyTorch bf16's chunks/s with vectors closer to float32 (cosine 0.9999 against PyTorch's 0.998:
OpenVINO keeps normalisation and accumulation in float32), the int8 copy 2.2-3.1x (cosine 0.997)
(bench/encoder_backends.py, bench/RESULTS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from vectorstore.onnx_encoder import GRAPH, OnnxEncoder, exported_folder, is_exported


class OpenVinoEncoder(OnnxEncoder):
    """Same interface and batching as the ONNX Runtime encoder; batches go to `streams` OpenVINO infer requests
    that run side by side, one thread each (on two cores two streams encoded 1.25x as many chunks per second as
    one stream on two threads, 1.4x for the int8 graph: small batches leave a thread pool idle between
    products), while the caller's thread tokenises the next batches."""

    # More infer requests than this mostly add memory (each holds its own buffers); measured on 2 cores only
    MAX_STREAMS = 4

    def __init__(self, folder: str | Path, tokenizer: Any, threads: int = 1, precision: str = "f32",
                 graph: str = GRAPH, streams: int | None = None) -> None:
        self.precision = precision
        threads = max(1, threads)
        self.streams = max(1, min(streams or threads, threads, self.MAX_STREAMS))
        self._source = (str(Path(folder) / graph), {
            "INFERENCE_PRECISION_HINT": self.precision,
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": self.streams,
        })
        # Batches handed over per call: two in flight on each stream
        self.group = self.BATCH * self.streams * 2
        self._tokenizer = tokenizer
        self._compile()

    def _compile(self) -> None:
        """Compile the graph and make one infer request per stream (again after a failed inference: a request
        or the compiled graph may be left unusable)."""
        import openvino as ov

        core = ov.Core()
        path, config = self._source
        compiled = core.compile_model(core.read_model(path), "CPU", config)
        self._requests = [compiled.create_infer_request() for _ in range(self.streams)]

    def _infer_all(self, feeds: Iterable[dict]) -> list:
        """The graph's output for each tokenised batch, in order; batches run on every infer request at once,
        the next one tokenised while they run. On an error the requests still running are waited for and
        everything is compiled again, so the next call works; the error is raised."""
        import numpy as np

        outputs: dict[int, Any] = {}
        running: list[tuple[Any, int] | None] = [None] * len(self._requests)

        def collect(slot: int) -> None:
            request, index = running[slot]
            running[slot] = None
            request.wait()
            outputs[index] = np.array(request.get_output_tensor(0).data, dtype=np.float32)

        try:
            for index, feed in enumerate(feeds):
                slot = index % len(self._requests)
                if running[slot] is not None:
                    collect(slot)
                self._requests[slot].start_async(feed)
                running[slot] = (self._requests[slot], index)
            for slot in range(len(running)):
                if running[slot] is not None:
                    collect(slot)
        except BaseException:
            for entry in running:
                if entry is not None:
                    try:
                        entry[0].wait()
                    except Exception:  # noqa: BLE001 - the first error is the one raised
                        pass
            self._compile()
            raise
        return [outputs[index] for index in range(len(outputs))]


def load_openvino_encoder(model_folder: str | Path, tokenizer: Any, threads: int = 1,
                          precision: str = "f32", *, int8: bool = False) -> OpenVinoEncoder:
    """The OpenVINO encoder of a model folder, computing in `precision` ("bf16" or "f32"), or its int8 copy
    (vectorstore/openvino_int8.py) when `int8`; errors name the fix (a missing export, copy or package)."""
    from vectorstore.openvino_int8 import INT8_GRAPH, int8_folder, is_quantized

    if int8 and not is_quantized(model_folder):
        raise FileNotFoundError(f"no int8 copy of the embedding model at {int8_folder(model_folder)}: run "
                                "`newsqa models quantize`, or set document_backend to auto")
    if not int8 and not is_exported(model_folder):
        raise FileNotFoundError(f"no ONNX export of the embedding model at {exported_folder(model_folder)}: run "
                                "`newsqa models pull`, or set document_backend to auto or torch")
    folder, graph = (int8_folder(model_folder), INT8_GRAPH) if int8 else (exported_folder(model_folder), GRAPH)
    try:
        return OpenVinoEncoder(folder, tokenizer, threads, precision, graph=graph)
    except ImportError as exc:
        raise FileNotFoundError(f"document_backend=openvino{'-int8' if int8 else ''} needs the openvino package: "
                                "pip install -e '.[openvino]' (or set document_backend to auto)") from exc
