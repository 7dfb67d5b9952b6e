"""The one place that builds real components (models, Chroma) from Settings. Everything else takes them in."""

from __future__ import annotations

import os
from pathlib import Path

from qa.models import registry as model_registry
from qa.errors import ConfigError, ModelError
from qa.settings import Recipe, Settings

# Chunks per embedding batch on PyTorch (ONNX Runtime takes its own, smaller batches): larger batches pad more.
EMBED_BATCH = 16
# A model server: retries of a failed request (connection errors, 408/429/5xx; the OpenAI client's backoff),
# chunks per embedding request, and requests in flight at once while ingesting (bench/RESULTS.md, 2026-12-07).
SERVER_RETRIES = 2
SERVER_EMBED_BATCH = 32
SERVER_EMBED_CONCURRENCY = 4


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


def server(settings: Settings, role: str):
    """The model server the settings name for `role` ("LLM" or "embedding"), or an error naming the setting."""
    from qa.remote.errors import Server

    base_url = (settings.llm_base_url if role == "LLM" else settings.embedding_base_url) or ""
    model = settings.llm_model if role == "LLM" else settings.embedding_model
    found = Server(role, base_url.rstrip("/"), model, settings.server_timeout)
    variable = found.variable
    if not base_url:
        raise ConfigError(f"{variable}_BACKEND=openai needs {variable}_BASE_URL, the server's OpenAI-compatible "
                          "address (e.g. http://127.0.0.1:8080/v1)")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{variable}_BASE_URL={base_url!r} is not an http(s) address; write it as "
                          "http://HOST:PORT/v1")
    return found


def build_embeddings(settings: Settings, recipe: Recipe | None = None):
    offline_environment()
    recipe = recipe or Recipe()
    if settings.embedding_backend == "openai":
        from qa.remote.embeddings import ServerEmbeddings

        return ServerEmbeddings(server(settings, "embedding"), api_key=os.environ.get("NEWSQA_EMBEDDING_API_KEY"),
                                query_prompt=recipe.query_prompt or "", batch_size=SERVER_EMBED_BATCH,
                                concurrency=SERVER_EMBED_CONCURRENCY, retries=SERVER_RETRIES,
                                dimensions=settings.embedding_dimensions)
    from vectorstore.embeddings import SentenceTransformerEmbeddings

    path = resolve_model(settings.embedding_model, settings, "embedding")
    try:
        return SentenceTransformerEmbeddings(
            path,
            dtype=settings.resolved_dtype(recipe),
            query_prompt=recipe.query_prompt,
            batch_size=EMBED_BATCH,
            threads=settings.resolved_threads(),
            dimensions=settings.embedding_dimensions,
            encoder=settings.encoder,
        )
    except OSError as exc:
        raise ModelError(f"could not load the embedding model {settings.embedding_model!r}: {exc}") from exc


def build_llm(settings: Settings):
    """The chat model on a server (llm_backend openai), else the local GGUF model on ik_llama.cpp (the only local
    runtime: see qa/llm/ik.py for why)."""
    if settings.llm_backend == "openai":
        from qa.remote.chat import server_chat

        return server_chat(server(settings, "LLM"), api_key=os.environ.get("NEWSQA_LLM_API_KEY"),
                           max_tokens=settings.llm_max_tokens, temperature=settings.llm_temperature,
                           retries=SERVER_RETRIES)
    from qa.llm.ik import ChatIkLlama

    return ChatIkLlama(
        model_path=resolve_model(settings.llm_model, settings, "llm"),
        n_ctx=settings.llm_context,
        n_threads=settings.resolved_threads(),
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
    )


def embedder_name(settings: Settings) -> str:
    """The embedding model's name as an index records it: the last part of a path or hub name, so the same
    model reached locally or on a server is the same embedder."""
    return Path(settings.embedding_model.rstrip("/")).name.lower()


def build_store(settings: Settings, embeddings):
    offline_environment()
    from vectorstore.base import EmbedderMismatch
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
    try:
        return ChromaVectorStore(client, embeddings, collection=settings.collection,
                                 embedder=embedder_name(settings))
    except EmbedderMismatch as exc:
        raise ConfigError(str(exc)) from exc


def build_fusion(recipe: Recipe):
    """The fusion weights of the recipe: the measured constants of qa/retrieve/fusion.py, with the stages the
    recipe leaves out weighted 0."""
    from qa.retrieve.fusion import Fusion

    off: dict[str, float] = {}
    if not recipe.keyword:
        off["keyword"] = 0.0
    if not recipe.recency:
        off.update(recency=0.0, recency_prior=0.0)
    if not recipe.periods:
        off.update(period=0.0, period_search=0.0, recent_search=0.0)
    return Fusion(**off)


def build_retriever(settings: Settings, store, embeddings, keyword, *, recipe: Recipe | None = None,
                    translator=None, reranker=None):
    """The hybrid retriever the settings and recipe describe, over `store` and `keyword` (the service's, or a
    benchmark's)."""
    from qa.retrieve.retriever import Retriever

    recipe = recipe or Recipe()
    return Retriever(store, embeddings, k=settings.k, resolve_dates=recipe.resolve_dates,
                     keyword=keyword if recipe.keyword else None, fusion=build_fusion(recipe), reranker=reranker,
                     screen_instructions=recipe.screen_instructions, translator=translator,
                     max_per_article=recipe.max_per_article, sentence_window=recipe.sentence_window)
