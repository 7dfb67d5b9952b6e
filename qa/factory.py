"""The one place that builds real components (models, Chroma) from Settings. Everything else takes them in."""

from __future__ import annotations

import os
from pathlib import Path

from qa.models import registry as model_registry
from qa.errors import ConfigError, ModelError
from qa.settings import Recipe, Settings

# Chunks per embedding batch on PyTorch (ONNX Runtime takes its own, smaller batches): larger batches pad more.
EMBED_BATCH = 16


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


def build_embeddings(settings: Settings, recipe: Recipe | None = None):
    offline_environment()
    from vectorstore.embeddings import SentenceTransformerEmbeddings

    recipe = recipe or Recipe()
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
    """The local GGUF chat model on ik_llama.cpp (the only local runtime: see qa/llm/ik.py for why)."""
    from qa.llm.ik import ChatIkLlama

    return ChatIkLlama(
        model_path=resolve_model(settings.llm_model, settings, "llm"),
        n_ctx=settings.llm_context,
        n_threads=settings.resolved_threads(),
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
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
