"""Sentence-transformers embeddings behind LangChain's Embeddings interface.

Loads a local model folder (or a model name, where a hub is reachable), in bf16 by default, with separate
prompts for questions and documents. Query encoding runs on one thread: with several busy torch threads a
single short query was measured many times slower on 2 cores. Where the model was exported to ONNX
(`newsqa models pull`), questions go through ONNX Runtime, about twice as fast (vectorstore/onnx_encoder.py).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from langchain_core.embeddings import Embeddings

from vectorstore.locks import QueryFirstLock

# How chunks may be encoded: PyTorch, or a runtime over the ONNX export (`newsqa models pull`): ONNX Runtime,
# OpenVINO, or OpenVINO over the export's int8 copy (`newsqa models quantize`).
DOCUMENT_RUNTIMES = ("torch", "onnx", "openvino", "openvino-int8")
EXPORTED = frozenset(DOCUMENT_RUNTIMES[1:])
# How questions may be encoded: PyTorch, ONNX Runtime over the export, or over its int8 question copy.
QUERY_RUNTIMES = ("torch", "onnx", "onnx-int8")


def auto_picks_int8(dtype: str, model_path: str | os.PathLike) -> bool:
    """Whether `document_backend=auto` runs chunks through the int8 copy under OpenVINO: where the model runs
    in bf16 (CPUs that compute it natively: the copy's float parts run in bf16 and its int8 products on VNNI),
    the copy exists (`newsqa models quantize`, made by `models pull` there) and openvino is installed. On the
    AVX-512 machine of the eleventh session: 2.2-3.1x PyTorch bf16's chunks/s, realtimeqa gold Hit@5 0.824
    against 0.812 (bench/RESULTS.md)."""
    from vectorstore.openvino_int8 import is_quantized

    return dtype == "bfloat16" and is_quantized(model_path) and _openvino_installed()


def auto_document_runtime(dtype: str, model_path: str | os.PathLike) -> str:
    """What `document_backend=auto` runs chunks through: the int8 copy under OpenVINO where `auto_picks_int8`;
    PyTorch elsewhere in bf16; in float32 (CPUs without native bf16, e.g. AVX2) the ONNX export, under OpenVINO
    where it is installed (one infer request per core: 1.06-1.29x ONNX Runtime's pipeline chunks/s on the AVX2
    machine of the sixteenth session, same float32 graph, cosine 1.0000; bench/RESULTS.md), else ONNX Runtime.
    A runtime that is missing or fails to load is not an error under `auto` (see `_documents_onnx`)."""
    from vectorstore.onnx_encoder import is_exported

    if auto_picks_int8(dtype, model_path):
        return "openvino-int8"
    if dtype != "float32" or not is_exported(model_path):
        return "torch"
    return "openvino" if _openvino_installed() else "onnx"


def _openvino_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def missing_files(model_path: str | os.PathLike, backend: str) -> str | None:
    """What a runtime needs on disk and the model folder lacks, with the command that makes it; None if nothing."""
    from vectorstore.onnx_encoder import exported_folder, is_exported
    from vectorstore.onnx_question_int8 import question_int8_folder, is_question_quantized
    from vectorstore.openvino_int8 import int8_folder, is_quantized

    if backend in EXPORTED and not is_exported(model_path):
        return f"no ONNX export of the embedding model at {exported_folder(model_path)}: run `newsqa models pull`"
    if backend == "openvino-int8" and not is_quantized(model_path):
        return f"no int8 copy of the embedding model at {int8_folder(model_path)}: run `newsqa models quantize`"
    if backend == "onnx-int8" and not is_question_quantized(model_path):
        return (f"no int8 question copy of the embedding model at {question_int8_folder(model_path)}: run "
                "`newsqa models quantize --questions`")
    return None


def load_question_encoder(model_path: str | os.PathLike, tokenizer: Any, threads: int, backend: str):
    """(encoder, runtime) for questions: under `auto` the int8 question copy where it exists (made by `newsqa models
    pull`), else the float32 export, else None (PyTorch); `onnx` and `onnx-int8` ask for one."""
    from vectorstore.onnx_encoder import OnnxEncoder, load_encoder
    from vectorstore.onnx_question_int8 import is_question_quantized, is_stale, question_int8_folder

    use_copy = backend == "onnx-int8" or (backend == "auto" and is_question_quantized(model_path))
    if use_copy and is_stale(model_path):
        message = (f"the int8 question encoder in {question_int8_folder(model_path)} was made from an earlier "
                   "export of the model: run `newsqa models quantize --questions` to make it again")
        if backend == "onnx-int8":
            raise FileNotFoundError(message)
        print(f"newsqa: {message}; questions go through the float32 export meanwhile.", file=sys.stderr)
        use_copy = False
    if use_copy:
        try:
            return OnnxEncoder(question_int8_folder(model_path), tokenizer, threads), "onnx-int8"
        except ImportError:
            if backend == "onnx-int8":
                raise FileNotFoundError("onnxruntime is not installed: reinstall newsqa, or set query_backend "
                                        "to auto or torch") from None
        except Exception as exc:  # onnxruntime's own errors on a damaged file
            if backend == "onnx-int8":
                raise
            print(f"newsqa: the int8 question encoder in {question_int8_folder(model_path)} could not be loaded "
                  f"({exc}); questions go through the float32 export. Run `newsqa models quantize --questions` "
                  "to make it again.", file=sys.stderr)
    encoder = load_encoder(model_path, tokenizer, threads, required=backend == "onnx")
    if encoder is None and backend == "onnx":
        raise FileNotFoundError("onnxruntime is not installed: reinstall newsqa, or set query_backend to auto or "
                                "torch")
    return encoder, ("onnx" if encoder is not None else "torch")


def leading_dimensions(vector, dimensions: int | None) -> list[float]:
    """The first `dimensions` values of a vector, normalised to unit length again (None: the whole vector)."""
    if dimensions is None:
        return [float(x) for x in vector]
    head = [float(x) for x in vector[:dimensions]]
    norm = sum(x * x for x in head) ** 0.5 or 1.0
    return [x / norm for x in head]


def _cut_for(model: Any, dimensions: int | None) -> tuple[int | None, int]:
    """(where vectors are cut, or None for the whole vector; the resulting length) for a model."""
    size = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    full = int(size() or 0)
    if dimensions is not None and not 0 < dimensions <= full:
        raise ValueError(f"dimensions must be between 1 and the model's {full}, got {dimensions}")
    cut = dimensions if dimensions is not None and dimensions < full else None
    return cut, cut or full


class SentenceTransformerEmbeddings(Embeddings):
    """EmbeddingGemma (or any sentence-transformers model) with query and document prompts."""

    def __init__(
        self,
        model_name_or_path: str,
        *,
        dtype: str = "bfloat16",
        query_prompt: str | None = None,
        document_prompt_name: str | None = "document",
        batch_size: int = 16,
        threads: int = 0,
        query_threads: int = 1,
        dimensions: int | None = None,
        query_backend: str = "auto",
        document_backend: str = "auto",
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        import torch
        from langchain_huggingface import HuggingFaceEmbeddings
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

        self._torch = torch
        self.name = os.path.basename(str(model_name_or_path).rstrip("/")) or str(model_name_or_path)
        self._threads = threads or max(1, os.cpu_count() or 1)
        self._query_threads = max(1, query_threads)
        self._batch_size = max(1, batch_size)
        self._lock = QueryFirstLock()
        torch.set_num_threads(self._threads)
        self._hf = HuggingFaceEmbeddings(
            model_name=str(model_name_or_path),
            model_kwargs={"device": "cpu", "model_kwargs": {"torch_dtype": getattr(torch, dtype)}},
            encode_kwargs={"batch_size": batch_size, "normalize_embeddings": True},
        )
        model = self._hf._client
        prompts = getattr(model, "prompts", {}) or {}
        doc_kwargs: dict[str, Any] = {"batch_size": batch_size, "normalize_embeddings": True}
        if document_prompt_name and document_prompt_name in prompts:
            doc_kwargs["prompt_name"] = document_prompt_name
        query_kwargs: dict[str, Any] = {"normalize_embeddings": True}
        if query_prompt is not None:
            query_kwargs["prompt"] = query_prompt
        elif "query" in prompts:
            query_kwargs["prompt_name"] = "query"
        self._hf.encode_kwargs = doc_kwargs
        self._doc_kwargs = doc_kwargs
        self._hf.query_encode_kwargs = query_kwargs
        # The text put before a question (the model's query prompt), for the ONNX path that tokenises itself.
        self._query_prefix = query_kwargs.get("prompt") or prompts.get(query_kwargs.get("prompt_name", ""), "")
        self._prompts = prompts
        self._onnx = None
        if query_backend not in {"auto", *QUERY_RUNTIMES}:
            raise ValueError(f"query_backend must be auto, torch, onnx or onnx-int8, not {query_backend!r}")
        if document_backend not in {"auto", *DOCUMENT_RUNTIMES}:
            raise ValueError("document_backend must be auto, torch, onnx, openvino or openvino-int8, not "
                             f"{document_backend!r}")
        for name, value in (("query_backend", query_backend), ("document_backend", document_backend)):
            if missing := missing_files(model_name_or_path, value):
                raise FileNotFoundError(f"{missing}, or set {name} to auto or torch")
        chosen = document_backend == "auto"
        if chosen:
            document_backend = auto_document_runtime(dtype, model_name_or_path)
        self._query_kind = "torch"
        if query_backend != "torch":
            self._onnx, self._query_kind = load_question_encoder(model_name_or_path, model.tokenizer,
                                                                 self._query_threads, query_backend)
        # Documents: the export is float32, so `auto` runs it (OpenVINO, else ONNX Runtime) only where PyTorch
        # runs float32 as well; where the model runs bf16, `auto` takes the int8 copy when it exists, else bf16
        # PyTorch (auto_document_runtime). Loaded on the first ingest batch; answering loads only a bf16 or int8
        # OpenVINO one (citation checks, see embed_documents_for_query).
        self._model_path = str(model_name_or_path)
        self._document_source = str(model_name_or_path) if document_backend in EXPORTED else None
        self._document_required = document_backend in EXPORTED and not chosen
        # OpenVINO (optional extra) runs the same export, in bf16 where the embedder runs in bf16, or its int8
        # copy (`newsqa models quantize`)
        self._document_kind = document_backend if document_backend in EXPORTED else "onnx"
        self._openvino_precision = "bf16" if dtype == "bfloat16" else "f32"
        self._document_encoder: dict[str, Any] = {}  # shared by copies (with_dimensions) once loaded
        self._document_loading = threading.Lock()
        self._max_length = int(getattr(model, "max_seq_length", None) or 2048)
        # Matryoshka models (EmbeddingGemma: 768/512/256/128) keep most of their quality in the leading
        # dimensions; vectors are cut there and normalised again.
        self._cut, self.dimension = _cut_for(model, dimensions)

    def with_dimensions(self, dimensions: int | None) -> "SentenceTransformerEmbeddings":
        """The same loaded model giving vectors cut to `dimensions` (None: full length); no second load."""
        import copy

        other = copy.copy(self)
        other._cut, other.dimension = _cut_for(self._hf._client, dimensions)
        return other

    def with_query_backend(self, backend: str) -> "SentenceTransformerEmbeddings":
        """The same loaded model with questions encoded by `torch`, `onnx` (the float32 export) or `onnx-int8`
        (its int8 question copy); a runtime other than the loaded one is loaded for the copy (errors name the
        command that makes a missing file)."""
        import copy

        if backend not in QUERY_RUNTIMES:
            raise ValueError(f"backend must be torch, onnx or onnx-int8, not {backend!r}")
        other = copy.copy(self)
        if backend == "torch":
            other._onnx, other._query_kind = None, "torch"
        elif self.query_backend != backend:
            if missing := missing_files(self._model_path, backend):
                raise ValueError(missing)
            other._onnx, other._query_kind = load_question_encoder(self._model_path, self._hf._client.tokenizer,
                                                                   self._query_threads, backend)
        return other

    def _documents_onnx(self):
        """The exported-graph encoder for documents (ONNX Runtime or OpenVINO; loaded once, on first use), or
        None for PyTorch."""
        if self._document_source is None:
            return None
        with self._document_loading:
            if "encoder" not in self._document_encoder:  # tried once per model, shared by copies
                kind, encoder = self._document_kind, None
                if kind.startswith("openvino"):
                    from vectorstore.openvino_encoder import load_openvino_encoder

                    try:
                        encoder = load_openvino_encoder(
                            self._document_source, self._hf._client.tokenizer, self._threads,
                            self._openvino_precision, int8=kind == "openvino-int8")
                    except Exception as exc:  # OpenVINO's own errors are many; `auto` falls back
                        if self._document_required:
                            raise
                        # the float32 export: ONNX Runtime runs it too; the int8 copy's fallback is PyTorch
                        kind = "onnx" if kind == "openvino" else "torch"
                        print(f"newsqa: the {self._document_kind} chunk encoder could not be loaded ({exc}); "
                              f"chunks go through {'ONNX Runtime' if kind == 'onnx' else 'PyTorch'}",
                              file=sys.stderr)
                if kind == "onnx":
                    from vectorstore.onnx_encoder import load_encoder

                    encoder = load_encoder(self._document_source, self._hf._client.tokenizer, self._threads,
                                           required=self._document_required)
                self._document_encoder.update(encoder=encoder, kind=kind if encoder is not None else "torch")
            if self._document_encoder["encoder"] is None and self._document_required:
                if self._document_kind.startswith("openvino"):
                    raise FileNotFoundError(f"the {self._document_kind} chunk encoder could not be loaded (see "
                                            "above); set document_backend to auto or torch")
                raise FileNotFoundError("onnxruntime is not installed or the ONNX export is missing: "
                                        "reinstall newsqa and run `newsqa models pull`, or set "
                                        "document_backend to auto or torch")
            return self._document_encoder["encoder"]

    @property
    def document_backend(self) -> str:
        """"onnx", "openvino" or "openvino-int8" when documents go through that runtime, else "torch" (loads the
        encoder if needed)."""
        return self._loaded_kind() if self._documents_onnx() is not None else "torch"

    def _loaded_kind(self) -> str:
        """The runtime the shared chunk encoder was loaded with (the one `auto` fell back to, if it did), or the
        one this copy asks for while nothing is loaded yet."""
        return self._document_encoder.get("kind", self._document_kind)

    def with_document_backend(self, backend: str) -> "SentenceTransformerEmbeddings":
        """The same loaded model with chunks encoded by `torch`, or by `onnx` / `openvino` (need the export) /
        `openvino-int8` (needs the int8 copy)."""
        import copy

        if backend not in DOCUMENT_RUNTIMES:
            raise ValueError(f"backend must be torch, onnx, openvino or openvino-int8, not {backend!r}")
        other = copy.copy(self)
        if backend != self._loaded_kind():
            # another runtime (or the one `auto` fell back from): loaded on first use, not shared
            other._document_encoder = {}
        other._document_kind = backend if backend in EXPORTED else "onnx"
        if backend == "torch":
            other._document_source = None
        else:
            if missing := missing_files(self._model_path, backend):
                raise ValueError(missing)
            other._document_source, other._document_required = self._model_path, True
        return other

    def _shorten(self, vector) -> list[float]:
        return leading_dimensions(vector, self._cut)

    @property
    def model(self) -> Any:
        """The underlying SentenceTransformer."""
        return self._hf._client

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Documents with the model's document prompt. Longest first in batches (of `batch_size` on PyTorch, of
        2 on ONNX Runtime, groups of 2 per infer request twice over on OpenVINO: 8 chunks on 2 cores); similar
        lengths pad little. The model lock is taken per batch or group and questions go first, so a question
        asked during a long ingest waits for one batch or group at most, not for the whole ingest."""
        return self._encode_batches(texts, self._doc_kwargs, self._lock.documents, self._documents_onnx())

    def embed_raw(self, texts: list[str]) -> list[list[float]]:
        """Texts already in the model's document format (e.g. "title: ... | text: ..."): no prompt added."""
        kwargs = {k: v for k, v in self._doc_kwargs.items() if k not in ("prompt_name", "prompt")}
        return self._encode_batches(texts, kwargs, self._lock.documents, self._documents_onnx())

    def embed_documents_for_query(self, texts: list[str]) -> list[list[float]]:
        """Like embed_documents, with a question's priority (citation checks while answering: an answer's
        passage sentences). Where chunks go through OpenVINO in bf16 or int8 (one infer request per core) that
        encoder serves: 2.7x as fast as the question's one-thread ONNX session on 15 passage sentences
        (bench/RESULTS.md, fourteenth session). Elsewhere, float32 OpenVINO included (not measured for this, and
        ~1.3 GB more in every answering process), the question's session serves, so answering never loads a
        float32, ONNX Runtime or PyTorch document encoder."""
        encoder = None
        if self._document_source is not None and (
                self._document_kind == "openvino-int8"
                or (self._document_kind == "openvino" and self._openvino_precision == "bf16")):
            encoder = self._documents_onnx()  # None when it could not be loaded (auto): the question's session
        return self._encode_batches(texts, self._doc_kwargs, self._lock.query, encoder or self._onnx)

    def _encode_batches(self, texts: list[str], kwargs: dict[str, Any], turn, onnx) -> list[list[float]]:
        if not texts:
            return []
        model = self._hf._client
        prefix = kwargs.get("prompt") or self._prompts.get(kwargs.get("prompt_name") or "", "")
        # A runtime with several infer requests takes a group of batches per turn of the lock
        size = getattr(onnx, "group", onnx.BATCH) if onnx is not None else self._batch_size
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), size):
            part = order[start:start + size]
            with turn():
                if onnx is not None:
                    encoded = onnx.encode_many([prefix + texts[i] for i in part], self._max_length)
                else:
                    self._torch.set_num_threads(self._threads)
                    encoded = model.encode([texts[i] for i in part], **kwargs)
            for i, vector in zip(part, encoded):
                vectors[i] = self._shorten(vector)
        return vectors

    @property
    def query_backend(self) -> str:
        """"onnx" when questions go through ONNX Runtime, "onnx-int8" through its int8 question copy, else
        "torch"."""
        return self._query_kind if self._onnx is not None else "torch"

    def embed_query(self, text: str) -> list[float]:
        if self._onnx is not None:
            with self._lock.query():
                return self._shorten(self._onnx.encode(self._query_prefix + text, self._max_length))
        with self._lock.query():
            self._torch.set_num_threads(self._query_threads)
            try:
                return self._shorten(self._hf.embed_query(text))
            finally:
                self._torch.set_num_threads(self._threads)
