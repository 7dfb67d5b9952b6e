"""The embedding model run by ONNX Runtime: the same sentence-transformers model, exported once to ONNX.

On this project's AVX2 CPUs ONNX Runtime runs the exported graph faster than PyTorch runs the model, with the
same vectors (cosine 1.0000): one short question 131 ms against 263 ms on one thread, and documents in batches
of two 3.6 chunks/s against 2.6 for PyTorch's batches of 16 on two threads (bench/RESULTS.md). Small batches
win because sorted-by-length batches of two pad almost nothing and MLAS's matrix products stay in cache.

The export (`export_encoder`) is made from the local model folder by `newsqa models pull`, once: it needs
`onnx` and `onnxscript` besides `onnxruntime`, and about a minute of CPU. Without the file, or without
onnxruntime, the model runs on PyTorch as before. The graph's output is named "question_vector" because
questions were its first use; documents come out of the same output.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

GRAPH = "model.onnx"
MARKER = "export.json"


def derived_folder(model_folder: str | Path, suffix: str) -> Path:
    """Where something derived from a model folder lives: next to it, same name + `suffix`."""
    folder = Path(model_folder)
    return folder.with_name(folder.name + suffix)


def exported_folder(model_folder: str | Path) -> Path:
    """Where the export of a model folder lives: next to it, same name + `.onnx`."""
    return derived_folder(model_folder, ".onnx")


def is_exported(model_folder: str | Path) -> bool:
    target = exported_folder(model_folder)
    return (target / GRAPH).is_file() and (target / MARKER).is_file()


@contextmanager
def written_aside(target: Path) -> Iterator[Path]:
    """A staging folder next to `target` to write into; renamed into place (replacing `target`) when the block
    ends without an error, removed otherwise: a crash never leaves half a folder where a whole one is expected."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        yield staging
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_encoder(model: Any, model_folder: str | Path) -> Path:
    """Export a loaded SentenceTransformer (transformer, pooling, dense layers, normalisation) to ONNX with
    dynamic batch and length, written aside and renamed into place. Returns the folder."""
    import torch

    target = exported_folder(model_folder)
    if is_exported(model_folder):
        return target

    class Whole(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    whole = Whole(model).eval()
    sample = model.tokenizer(["a short question?", "and a somewhat longer second one, for shapes"],
                             padding=True, return_tensors="pt")
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    with written_aside(target) as staging:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                whole, (sample["input_ids"], sample["attention_mask"]), str(staging / GRAPH),
                input_names=["input_ids", "attention_mask"], output_names=["question_vector"],
                dynamic_shapes={"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}},
                dynamo=True, external_data=True,
            )
        (staging / MARKER).write_text(json.dumps({"source": str(model_folder), "torch": torch.__version__}))
    return target


class OnnxEncoder:
    """Encodes texts with ONNX Runtime, tokenised by the model's own tokenizer; vectors are unit length."""

    # Documents per run of the graph: measured 3.6 chunks/s at 1-2, 3.3 at 4, 3.2 at 8 (96 realtimeqa chunks).
    BATCH = 2

    def __init__(self, folder: str | Path, tokenizer: Any, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads sleep instead of spinning: the ingest pipeline's reader and writer threads and
        # the LLM share these cores (pipeline/encoder 0.92 without spinning, 0.80 with it, one measurement).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(Path(folder) / GRAPH), options,
                                             providers=["CPUExecutionProvider"])
        self._tokenizer = tokenizer

    def encode(self, text: str, max_length: int = 2048) -> list[float]:
        """One text (a question): a list of floats."""
        return [float(x) for x in self.encode_many([text], max_length)[0]]

    def encode_many(self, texts: list[str], max_length: int = 2048):
        """Texts in the order given, as unit rows of a numpy array; run in batches of similar length, each
        tokenised just before the runtime takes it."""
        import numpy as np

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        parts = [order[start:start + self.BATCH] for start in range(0, len(order), self.BATCH)]
        outputs = self._infer_all(graph_inputs(self._tokenizer, [texts[i] for i in part], max_length)
                                  for part in parts)
        if not parts:
            return np.zeros((0, 0), dtype=np.float32)
        out = np.zeros((len(texts), outputs[0].shape[1]), dtype=np.float32)
        for part, rows in zip(parts, outputs):
            out[part] = rows
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def _infer_all(self, feeds: Iterable[dict]) -> list:
        """The graph's vectors for each tokenised batch, in order."""
        outputs = []
        for feed in feeds:
            (vectors,) = self._session.run(None, feed)
            outputs.append(vectors)
        return outputs


def graph_inputs(tokenizer: Any, texts: list[str], max_length: int = 2048) -> dict:
    """One batch of texts as the exported graph's inputs (padded to the longest)."""
    import numpy as np

    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    return {"input_ids": batch["input_ids"].astype(np.int64),
            "attention_mask": batch["attention_mask"].astype(np.int64)}


def load_encoder(model_folder: str | Path, tokenizer: Any, threads: int = 1,
                 *, required: bool = False) -> OnnxEncoder | None:
    """The ONNX encoder of a model folder when it was exported and onnxruntime is installed, else None (a
    broken export is reported on stderr and skipped, unless `required`)."""
    if not is_exported(model_folder):
        return None
    try:
        return OnnxEncoder(exported_folder(model_folder), tokenizer, threads)
    except ImportError:
        return None
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph errors on a damaged file
        if required:
            raise
        print(f"newsqa: the ONNX encoder in {exported_folder(model_folder)} could not be loaded ({exc}); "
              "the model runs on PyTorch. Delete that folder and run `newsqa models pull` to export it again.",
              file=sys.stderr)
        return None
