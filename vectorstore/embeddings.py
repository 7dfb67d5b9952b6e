"""Sentence-transformers embeddings behind LangChain's Embeddings interface.

Loads a local model folder (or a model name, where a hub is reachable), in bf16 by default, with separate
prompts for questions and documents. Query encoding runs on one thread: with several busy torch threads a
single short query was measured many times slower on 2 cores. Where the model was exported to ONNX
(`newsqa models pull`), questions go through ONNX Runtime, about twice as fast, and so do chunks where the
model runs in float32 (vectorstore/onnx_encoder.py).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from langchain_core.embeddings import Embeddings

from vectorstore.locks import QueryFirstLock

# What runs the model: PyTorch (sentence-transformers), or ONNX Runtime over the export `newsqa models pull` makes.
ENCODERS = ("auto", "torch", "onnx")


def chunks_on_onnx(encoder: str, dtype: str, model_path: str | os.PathLike) -> bool:
    """Whether chunks go through the ONNX export: when asked (`onnx`), or under `auto` where the model runs in
    float32 (CPUs without native bf16; the export is float32) and the export exists: 1.4x PyTorch float32's
    chunks/s on 2 AVX2 cores, same vectors (bench/RESULTS.md). Where the model runs in bf16, PyTorch bf16 is
    faster than the float32 export."""
    from vectorstore.onnx_encoder import is_exported

    return encoder == "onnx" or (encoder == "auto" and dtype == "float32" and is_exported(model_path))


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
        encoder: str = "auto",
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
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be auto, torch or onnx, not {encoder!r}")
        from vectorstore.onnx_encoder import exported_folder, is_exported, load_encoder

        if encoder == "onnx" and not is_exported(model_name_or_path):
            raise FileNotFoundError(f"no ONNX export of the embedding model at {exported_folder(model_name_or_path)}: "
                                    "run `newsqa models pull`, or set encoder to auto or torch")
        # Questions: one-thread ONNX Runtime session over the export where it exists (about twice as fast as
        # PyTorch for one question), else PyTorch.
        if encoder != "torch":
            self._onnx = load_encoder(model_name_or_path, model.tokenizer, self._query_threads,
                                      required=encoder == "onnx")
            if self._onnx is None and encoder == "onnx":
                raise FileNotFoundError("onnxruntime is not installed: reinstall newsqa, or set encoder to auto or "
                                        "torch")
        # Chunks: loaded on the first ingest batch (answering never loads a second encoder).
        self._model_path = str(model_name_or_path)
        self._document_source = (str(model_name_or_path) if chunks_on_onnx(encoder, dtype, model_name_or_path)
                                 else None)
        self._document_required = encoder == "onnx"  # under auto, an export that fails to load means PyTorch
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

    def with_encoder(self, encoder: str) -> "SentenceTransformerEmbeddings":
        """The same loaded model with questions and chunks run by `torch` or `onnx` (the export; loaded for the
        copy, errors name the command that makes a missing file). Benchmarks compare the two this way."""
        import copy

        from vectorstore.onnx_encoder import exported_folder, is_exported, load_encoder

        if encoder not in ENCODERS[1:]:
            raise ValueError(f"encoder must be torch or onnx, not {encoder!r}")
        other = copy.copy(self)
        if encoder == "torch":
            other._onnx, other._document_source = None, None
            return other
        if not is_exported(self._model_path):
            raise ValueError(f"no ONNX export of the embedding model at {exported_folder(self._model_path)}: run "
                             "`newsqa models pull`")
        if other._onnx is None:
            other._onnx = load_encoder(self._model_path, self._hf._client.tokenizer, self._query_threads,
                                       required=True)
        if other._document_source is None:
            other._document_source, other._document_encoder = self._model_path, {}
        other._document_required = True
        return other

    def _documents_onnx(self):
        """The ONNX Runtime encoder for chunks (loaded once, on first use), or None for PyTorch."""
        if self._document_source is None:
            return None
        with self._document_loading:
            if "encoder" not in self._document_encoder:  # loaded once per model, shared by copies
                from vectorstore.onnx_encoder import load_encoder

                self._document_encoder["encoder"] = load_encoder(self._document_source, self._hf._client.tokenizer,
                                                                 self._threads, required=self._document_required)
            return self._document_encoder["encoder"]

    @property
    def document_backend(self) -> str:
        """"onnx" when chunks go through ONNX Runtime, else "torch"."""
        return "onnx" if self._document_source is not None else "torch"

    def _shorten(self, vector) -> list[float]:
        return leading_dimensions(vector, self._cut)

    @property
    def model(self) -> Any:
        """The underlying SentenceTransformer."""
        return self._hf._client

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Documents with the model's document prompt. Longest first in batches (of `batch_size` on PyTorch, of
        2 on ONNX Runtime); similar lengths pad little. The model lock is taken per batch and questions go
        first, so a question asked during a long ingest waits for one batch at most, not for the whole ingest."""
        return self._encode_batches(texts, self._doc_kwargs, self._lock.documents, self._documents_onnx())

    def embed_raw(self, texts: list[str]) -> list[list[float]]:
        """Texts already in the model's document format (e.g. "title: ... | text: ..."): no prompt added."""
        kwargs = {k: v for k, v in self._doc_kwargs.items() if k not in ("prompt_name", "prompt")}
        return self._encode_batches(texts, kwargs, self._lock.documents, self._documents_onnx())

    def embed_raw_for_query(self, texts: list[str]) -> list[list[float]]:
        """Like embed_raw, with a question's priority (a chunk still waiting for its stored vector, scored for a
        question), on the question's encoder."""
        kwargs = {k: v for k, v in self._doc_kwargs.items() if k not in ("prompt_name", "prompt")}
        return self._encode_batches(texts, kwargs, self._lock.query, self._onnx)

    def embed_documents_for_query(self, texts: list[str]) -> list[list[float]]:
        """Like embed_documents, with a question's priority (citation checks while answering: an answer's
        passage sentences), on the question's encoder, so answering never loads a second one."""
        return self._encode_batches(texts, self._doc_kwargs, self._lock.query, self._onnx)

    def _encode_batches(self, texts: list[str], kwargs: dict[str, Any], turn, onnx) -> list[list[float]]:
        if not texts:
            return []
        model = self._hf._client
        prefix = kwargs.get("prompt") or self._prompts.get(kwargs.get("prompt_name") or "", "")
        size = onnx.BATCH if onnx is not None else self._batch_size
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
        """"onnx" when questions go through ONNX Runtime, else "torch"."""
        return "onnx" if self._onnx is not None else "torch"

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
