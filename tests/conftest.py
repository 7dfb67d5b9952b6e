"""Shared fixtures. Unit tests use fakes; tests marked real_models load the offline default models once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "data" / "sample"
SEEDS_DIR = REPO.parent / "shared" / "seeds"


@pytest.fixture
def designed_embeddings():
    from fakes import DesignedEmbeddings

    return DesignedEmbeddings()


@pytest.fixture
def chroma_store(tmp_path, designed_embeddings):
    """Real embedded Chroma in a temporary folder, with designed embeddings."""
    from vectorstore.chroma import ChromaVectorStore, persistent_client

    return ChromaVectorStore(persistent_client(tmp_path / "index"), designed_embeddings, collection="test")


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory):
    from qa.settings import Settings

    return Settings(index_dir=tmp_path_factory.mktemp("real-index"))


@pytest.fixture(scope="session")
def real_embeddings(real_settings):
    from qa.factory import build_embeddings

    return build_embeddings(real_settings)


@pytest.fixture(scope="session")
def fp32_embeddings(real_settings, real_embeddings):
    """The real embedder in float32, for tests that compare two code paths to 1e-4: on CPUs with native bf16
    `auto` runs the model in bfloat16 (same rankings, vectors ~0.998 apart), where no two paths agree that closely."""
    if real_settings.resolved_dtype() == "float32":
        return real_embeddings
    from qa.factory import build_embeddings
    from qa.settings import Recipe

    return build_embeddings(real_settings, Recipe(embedding_dtype="float32"))


@pytest.fixture(scope="session")
def real_llm(real_settings):
    from qa.factory import build_llm

    return build_llm(real_settings).load()


@pytest.fixture(scope="session")
def seeds_dir():
    if not SEEDS_DIR.is_dir():
        pytest.skip(f"seed articles not found at {SEEDS_DIR} (they live in ../shared/seeds beside the repo)")
    return SEEDS_DIR
