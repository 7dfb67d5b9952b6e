"""What a user configures (`Settings`) and how answers are made (`Recipe`).

`Settings` holds the choices a user has a reason to make: where things live, which models, how much the model
reads and writes. Every field can be set by an environment variable `NEWSQA_<FIELD>`. Nothing is read at import
time: call `Settings()` (or `Settings(index_dir=...)`) where you need it.

`Recipe` holds the method: the stages and checks that measurement chose (bench/RESULTS.md). Users leave it alone;
`newsqa eval --config baseline` swaps in the LangChain-tutorial recipe, and an evaluation config file may change
a field of it to measure a variant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# NEWSQA_ variables that are read elsewhere, not settings
# NEWSQA_DEBUG; the model servers' keys, read from the environment only (never a setting's value, so never in a
# settings dump, a log, an Answer or a report)
OTHER_VARIABLES = frozenset({"NEWSQA_DEBUG", "NEWSQA_LLM_API_KEY", "NEWSQA_EMBEDDING_API_KEY"})
_warned: set[str] = set()


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_native_bf16() -> bool:
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def _default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("newsqa")) / "models"


def _default_index_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("newsqa")) / "index"


class Settings(BaseSettings):
    """Configuration a user can explain: folders, models, the model's budget, the store, the server."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_", extra="forbid", validate_assignment=True)

    index_dir: Path = Field(
        default_factory=_default_index_dir,
        description="Folder of the persistent Chroma index (created on first ingest). Change it to keep several "
        "indexes, e.g. one per corpus.",
    )
    model_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Folder where `newsqa models pull` assembles the default models (2.3 GB). Change it to put "
        "them on another disk or share them between users.",
    )
    auto_pull: bool = Field(
        default=True,
        description="Assemble a missing default model on first use instead of failing. Turn it off where a "
        "first question must never start a 2 GB download.",
    )
    embedding_backend: Literal["local", "openai"] = Field(
        default="local",
        description="Where chunks and questions are embedded: local (sentence-transformers or ONNX Runtime on "
        "this machine) or openai (an OpenAI-compatible /v1/embeddings server at embedding_base_url: TEI, "
        "Infinity, vLLM, llama.cpp, Ollama; key in NEWSQA_EMBEDDING_API_KEY).",
    )
    embedding_base_url: str | None = Field(
        default=None,
        description="The embedding server's OpenAI-compatible address, e.g. http://127.0.0.1:7997/v1 (with "
        "embedding_backend openai).",
    )
    embedding_model: str = Field(
        default="embeddinggemma-300m",
        description="Embedding model: the default's name, a sentence-transformers folder, or a model name (a hub "
        "name needs hub access and HF_HUB_OFFLINE=0); with a server, the name it serves. Changing it means "
        "re-ingesting into a new index (an index records the model it was built with).",
    )
    embedding_dimensions: int | None = Field(
        default=None, ge=1,
        description="Keep only the leading dimensions of each vector (Matryoshka: 512, 256 or 128 for "
        "EmbeddingGemma) for a smaller index; unset: all 768. An index is searched with the dimensions it was "
        "built with.",
    )
    encoder: Literal["auto", "torch", "onnx"] = Field(
        default="auto",
        description="What runs the embedding model: onnx (ONNX Runtime over the export `newsqa models pull` "
        "makes: questions about twice as fast, chunks 1.4x on AVX2 CPUs), torch (sentence-transformers), or "
        "auto (questions on onnx; chunks on torch in bf16 where the CPU computes bf16 natively, else on onnx).",
    )
    llm_backend: Literal["local", "openai"] = Field(
        default="local",
        description="Where answers are written: local (the GGUF model on this machine's CPU) or openai (an "
        "OpenAI-compatible chat server at llm_base_url: vLLM, llama.cpp's llama-server, Ollama, LM Studio, a "
        "hosted API; key in NEWSQA_LLM_API_KEY).",
    )
    llm_base_url: str | None = Field(
        default=None,
        description="The chat server's OpenAI-compatible address, e.g. http://127.0.0.1:8080/v1 (with "
        "llm_backend openai).",
    )
    llm_model: str = Field(
        default="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        description="Generator: the default's name or a path to any GGUF chat model (a larger one answers better "
        "and slower); with a server, the name it serves.",
    )
    llm_context: int = Field(
        default=4096, ge=512,
        description="LLM context window in tokens: more room for passages, more memory.",
    )
    llm_max_tokens: int = Field(
        default=160, ge=8, description="Most tokens the LLM may write per answer: raise it for longer answers."
    )
    llm_temperature: float = Field(
        default=0.0, ge=0.0, le=2.0,
        description="Sampling temperature (0: greedy, the same answer every time).",
    )
    server_timeout: float = Field(
        default=120.0, gt=0,
        description="Seconds a model server may take for one request before it is retried (twice) and then "
        "reported as timed out.",
    )
    threads: int = Field(
        default=0, ge=0,
        description="CPU threads for the models (0: all cores). Lower it to leave cores to other work.",
    )
    chunk_size: int = Field(
        default=600, ge=100,
        description="Target chunk length in characters. Changing it means re-ingesting.",
    )
    chunk_overlap: int = Field(default=100, ge=0, description="Characters shared by consecutive chunks.")
    k: int = Field(
        default=5, ge=1, le=50,
        description="Passages given to the LLM per question: more finds more, and each costs ~150 prompt tokens "
        "(~1.5 s of reading on 2 cores).",
    )
    translate_queries: bool = Field(
        default=True,
        description="Translate the question with the LLM into the corpus's other languages (those holding 1% of "
        "the chunks or more) and search each with its own translation (about a second per new question and "
        "language; nothing for a one-language corpus). Turn it off for faster answers over mixed corpora.",
    )
    reranker_model: str | None = Field(
        default=None,
        description="A sentence-transformers CrossEncoder folder to rerank the best candidates (none ships "
        "offline; unset: no reranking).",
    )
    collection: str = Field(
        default="newsqa",
        description="Chroma collection name: several collections can share one index folder.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="A Chroma server (e.g. http://127.0.0.1:8001, started with `chroma run`) instead of the "
        "embedded store in index_dir, when several machines share one index; the keyword index stays in "
        "index_dir.",
    )
    api_token: str | None = Field(
        default=None,
        description="Bearer token the REST API requires (none: open, for loopback use). Set it before binding "
        "beyond this machine.",
    )
    url_private: Literal["auto", "allow", "refuse"] = Field(
        default="auto",
        description="Whether an ingested URL may point at this machine or its network (loopback, private, "
        "link-local addresses): auto allows it for the command line and a server on loopback and refuses it for "
        "a server reachable from other machines (no fetching of the local network for a caller); allow; refuse.",
    )
    url_robots: bool = Field(
        default=True, description="Honour each site's robots.txt when fetching URLs and feeds.",
    )
    feed_interval: int = Field(
        default=900, ge=30,
        description="Seconds between two polls of a watched feed (`newsqa watch`, the server's feeds list); a "
        "failing feed waits twice as long after each failure, up to 64 times.",
    )
    mcp_ingest: bool = Field(
        default=False,
        description="Let the MCP client of `newsqa mcp` (stdio) add local files to the index through the `ingest` "
        "tool (off: the tool refuses; `--allow-ingest` turns it on for one run). Over HTTP (/mcp) it always refuses.",
    )
    condense_mode: Literal["concat", "llm"] = Field(
        default="concat",
        description="How a follow-up is made standalone: concat (previous question + follow-up, instant) or llm "
        "(the model rewrites it, ~1 s more).",
    )

    @model_validator(mode="after")
    def _name_unknown_variables(self) -> "Settings":
        """A NEWSQA_ variable that names no setting (a typo, or one retired on 2026-12-07 such as
        NEWSQA_LLM_RUNTIME) would be ignored without a word: say so on stderr, once per name."""
        import os
        import sys

        known = {f"NEWSQA_{name.upper()}" for name in type(self).model_fields} | OTHER_VARIABLES
        for name in sorted(os.environ):
            if name.upper().startswith("NEWSQA_") and name.upper() not in known and name not in _warned:
                _warned.add(name)
                print(f"newsqa: {name} is not a setting and is ignored (see README, Configuration); unset it",
                      file=sys.stderr)
        return self

    def resolved_dtype(self, recipe: "Recipe | None" = None) -> str:
        """The embedding model's torch dtype: bfloat16 on CPUs with native bf16 (AVX-512 BF16 or AMX), else
        float32, unless the recipe names one. On a 2-core AVX2 machine bf16 ran 5x slower than float32
        (emulated); on AVX-512 BF16 it is about twice as fast with the same rankings."""
        if recipe is not None and recipe.embedding_dtype != "auto":
            return recipe.embedding_dtype
        return "bfloat16" if cpu_has_native_bf16() else "float32"

    def resolved_threads(self) -> int:
        import os

        return self.threads or max(1, os.cpu_count() or 1)


class Recipe(BaseModel):
    """How articles become answers: each stage's measured choice (the defaults) or the tutorial baseline's.

    The tuning numbers inside each stage (fusion weights, pools, margins) are constants in the module that uses
    them (qa/retrieve/fusion.py), each with the figure in bench/RESULTS.md that set it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    splitter: Literal["sentences", "tutorial"] = Field(
        default="sentences",
        description="Where chunks may break: sentences (paragraphs, lines, then sentence ends in several scripts) "
        "or tutorial (LangChain's default paragraphs, lines, spaces).",
    )
    query_prompt: str | None = Field(
        default="task: question answering | query: ",
        description="Text put before each question when it is embedded (None: the model's own query prompt).",
    )
    document_template: str | None = Field(
        default="title: {title} | text: {text}",
        description="How a chunk reaches the encoder ({title}, {text}); None: the chunk alone with the model's "
        "own document prompt. Changing it means re-ingesting.",
    )
    embedding_dtype: Literal["auto", "bfloat16", "float32"] = Field(
        default="auto", description="Torch dtype of the embedding model (auto: see Settings.resolved_dtype).",
    )
    keyword: bool = Field(default=True, description="Fuse BM25 keyword search with dense search.")
    recency: bool = Field(default=True, description="Newer reports first among close candidates.")
    periods: bool = Field(
        default=True,
        description="Boost and search again the period a question names ('this week', 'in October 2025'), or "
        "the last days before the as-of date.",
    )
    # realtimeqa gold Hit@5 0.765 -> 0.812 with the cap of 2 (bench/RESULTS.md 2026-12-02, 348489c)
    max_per_article: int = Field(default=2, ge=0, description="Passages one article may give (0: no limit).")
    # bench/RESULTS.md 2026-11-23, fecf028
    sentence_window: int = Field(
        default=1, ge=0,
        description="Sentences of the neighbouring chunks added to a passage cut mid-sentence (0: none).",
    )
    resolve_dates: bool = Field(default=True, description="Show partial dates in passages as absolute dates.")
    screen_instructions: bool = Field(
        default=True, description="Take sentences addressed to the model out of passages before the prompt.",
    )
    prompt_style: Literal["cited", "plain"] = Field(
        default="cited",
        description="cited: numbered passages and [n] citations; plain: the tutorial's prompt.",
    )
    checks: bool = Field(
        default=True,
        description="Check the reply in code: citations moved to the passage that supports them, figures and "
        "words no passage holds, periods no passage covers (abstaining when the reply rests on nothing).",
    )
    second_look: bool = Field(
        default=True,
        description="Ask the model once more when its reply lacks the kind of answer the question asks for (a "
        "number, a date, anything the question does not already say).",
    )

    @classmethod
    def tutorial(cls) -> "Recipe":
        """What a user would build from the LangChain RAG tutorial: plain splitting and prompt, dense search
        only, no date handling, no checks."""
        return cls(splitter="tutorial", query_prompt=None, document_template=None, embedding_dtype="float32",
                   keyword=False, recency=False, periods=False, max_per_article=0, sentence_window=0,
                   resolve_dates=False, screen_instructions=False, prompt_style="plain", checks=False,
                   second_look=False)
