"""The one place that builds real components (models, Chroma) from Settings. Everything else takes them in."""

from __future__ import annotations

import os
from pathlib import Path

from qa import models as model_registry
from qa.errors import ConfigError, ModelError
from qa.settings import Settings


def offline_environment() -> None:
    """No hub, no telemetry: set before any Hugging Face, Chroma or Gradio import."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def resolve_model(name: str, settings: Settings, kind: str) -> str:
    """A default model's name -> its assembled path (pulled on demand); anything else is used as given."""
    spec = model_registry.DEFAULT_MODELS.get(name)
    if spec is not None:
        if spec.kind != kind:
            raise ConfigError(f"{name} is the default {spec.kind} model, not a {kind} model")
        return str(model_registry.ensure(spec, settings.model_dir, auto_pull=settings.auto_pull))
    path = Path(name).expanduser()
    if kind == "llm" and not path.is_file():
        raise ModelError(f"NEWSQA_LLM_MODEL={name!r} is not a GGUF file. Give a path to a .gguf file.")
    return str(path) if path.exists() else name


def build_embeddings(settings: Settings):
    offline_environment()
    from vectorstore.embeddings import SentenceTransformerEmbeddings

    path = resolve_model(settings.embedding_model, settings, "embedding")
    try:
        return SentenceTransformerEmbeddings(
            path,
            dtype=settings.resolved_dtype(),
            query_prompt=settings.query_prompt,
            batch_size=settings.embed_batch_size,
            threads=settings.resolved_threads(),
            dimensions=settings.embedding_dimensions,
            query_backend=settings.query_backend,
            document_backend=settings.document_backend,
        )
    except OSError as exc:
        raise ModelError(f"could not load the embedding model {settings.embedding_model!r}: {exc}") from exc


def _local_path(settings: Settings, name: str) -> Path:
    """Where a model named in the settings lives on disk (a default model's assembled path, else the name as a
    path), without pulling anything."""
    spec = model_registry.DEFAULT_MODELS.get(name)
    return spec.target(settings.model_dir) if spec is not None else Path(name).expanduser()


def resolved_openvino_weights(settings: Settings, gguf: str | Path | None = None) -> str:
    """"gguf", "int8" or "w8a8": what the openvino runtime loads (`auto`: the int8 copy of `gguf` once it is
    made, by default the configured LLM's file; never w8a8, which is faster but answers worse, so it is only
    loaded when named); the setting itself where that runtime does not run or the weights are named. Nothing is
    pulled or loaded."""
    if settings.llm_openvino_weights != "auto" or settings.resolved_llm_runtime() != "openvino":
        return settings.llm_openvino_weights
    from qa.llm_ir import is_converted

    return "int8" if is_converted(gguf or _local_path(settings, settings.llm_model)) else "gguf"


def resolved_question_encoder(settings: Settings) -> str:
    """"onnx-int8" when questions go through the embedder's int8 question copy (named, or `auto` once the copy is
    made), else "float32" (the export or PyTorch: the same vectors). Nothing is pulled or loaded."""
    if settings.query_backend != "auto":
        return "onnx-int8" if settings.query_backend == "onnx-int8" else "float32"
    from vectorstore.onnx_question_int8 import auto_uses_copy

    return "onnx-int8" if auto_uses_copy(_local_path(settings, settings.embedding_model)) else "float32"


def build_llm(settings: Settings):
    path = resolve_model(settings.llm_model, settings, "llm")
    runtime = settings.resolved_llm_runtime()
    if runtime == "ik":
        from qa.llm_ik import ChatIkLlama as Chat
    elif runtime == "openvino":
        from qa.llm_openvino import ChatOpenVinoGenAI as Chat
    else:
        from qa.llm import ChatXLlamaCpp as Chat
    extra = {}
    if runtime == "openvino":
        from qa.llm_ir import ir_folder

        weights = resolved_openvino_weights(settings, path)
        extra = {"draft_tokens": settings.llm_draft_tokens,
                 "ir_path": None if weights == "gguf" else str(ir_folder(path, weights))}
    elif runtime == "ik" and settings.llm_native_build:
        from qa.native_llm import native_library

        library = native_library(settings.model_dir)
        extra = {"library": str(library) if library else None}
    return Chat(
        model_path=path,
        n_ctx=settings.llm_context,
        n_threads=settings.resolved_threads(),
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        **extra,
    )


def build_store(settings: Settings, embeddings):
    offline_environment()
    from vectorstore.chroma import ChromaVectorStore, http_client, persistent_client

    if settings.chroma_url:
        try:
            client = http_client(settings.chroma_url)
            client.heartbeat()
        except Exception as exc:  # chromadb raises several kinds for an unreachable server
            raise ConfigError(
                f"no Chroma server answers at {settings.chroma_url} ({exc}); start one with "
                "`chroma run --path DIR --host 127.0.0.1 --port 8001` or unset NEWSQA_CHROMA_URL"
            ) from exc
    else:
        client = persistent_client(settings.index_dir)
    return ChromaVectorStore(client, embeddings, collection=settings.collection)


def build_retriever(settings: Settings, store, embeddings, keyword, *, translator=None, reranker=None):
    """The hybrid retriever the settings describe, over `store` and `keyword` (the service's, or a benchmark's)."""
    from qa.retrieval import Fusion, Retriever

    s = settings
    fusion = Fusion(dense=s.dense_weight, keyword=s.keyword_weight, recency=s.recency_weight,
                    recency_prior=s.recency_prior, recency_pool=s.recency_pool, recency_margin=s.recency_margin,
                    rrf_k=s.rrf_k, period=s.period_weight, period_pool=s.period_pool, period_margin=s.period_margin,
                    period_search=s.period_search_weight,
                    recent_search=s.recent_search_weight, recent_days=s.recent_days)
    return Retriever(store, embeddings, k=s.k, fetch_k=s.fetch_k, resolve_dates=s.resolve_dates, keyword=keyword,
                     fusion=fusion, reranker=reranker, rerank_top=s.rerank_top,
                     screen_instructions=s.screen_instructions, translator=translator,
                     max_per_article=s.max_per_article, sentence_window=s.sentence_window)
