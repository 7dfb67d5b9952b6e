"""The one settings object. Every field can be set by an environment variable `NEWSQA_<FIELD>`.

Nothing is read at import time: call `Settings()` (or `Settings(index_dir=...)`) where you need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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


def cpu_has_int8_dot() -> bool:
    """Whether the CPU multiplies int8 by int8 into 32-bit sums in one instruction (AVX-512 VNNI, AVX-VNNI, AMX).
    Without it (plain AVX2), OpenVINO's int8 products add pairs of u8 x s8 products in 16 bits, which overflow
    with full 8-bit weights: quantizers then keep weights to 7 bits (NNCF's overflow fix)."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_has_amx() -> bool:
    """Whether the CPU has AMX tiles for bf16 and int8 (what makes OpenVINO GenAI's prompt reading fast)."""
    return {"amx_bf16", "amx_int8"} <= cpu_flags()


def _default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("newsqa")) / "models"


def _default_index_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("newsqa")) / "index"


class Settings(BaseSettings):
    """Configuration for ingestion, retrieval and answering."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_", extra="forbid", validate_assignment=True)

    index_dir: Path = Field(
        default_factory=_default_index_dir,
        description="Folder of the persistent Chroma index (created on first ingest).",
    )
    model_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Folder where `newsqa models pull` assembles the default models.",
    )
    auto_pull: bool = Field(
        default=True,
        description="Assemble a missing default model on first use instead of failing.",
    )
    embedding_model: str = Field(
        default="embeddinggemma-300m",
        description="Embedding model: the default's name, a sentence-transformers folder, or a model name "
        "(a hub name needs hub access and HF_HUB_OFFLINE=0).",
    )
    embedding_dtype: str = Field(
        default="auto",
        description="Torch dtype of the embedding model: auto (bfloat16 where the CPU computes it natively, "
        "else float32), bfloat16, float16 or float32.",
    )
    embedding_dimensions: int | None = Field(
        default=None, ge=1,
        description="Keep only the leading dimensions of each vector (Matryoshka: 512, 256 or 128 for "
        "EmbeddingGemma), normalised again; unset: all 768. An index is searched with the dimensions it was "
        "built with.",
    )
    query_backend: str = Field(
        default="auto",
        description="How questions are embedded: onnx (ONNX Runtime over the export `newsqa models pull` makes, "
        "about twice as fast for one question), onnx-int8 (its int8 question copy, `newsqa models quantize "
        "--questions`: ~0.67x onnx's time on AVX2, vectors at cosine ~0.997), torch, or auto (the int8 copy where "
        "it was made, else onnx when the export exists, else torch).",
    )
    document_backend: str = Field(
        default="auto",
        description="How chunks are embedded at ingest: onnx (the same export, 1.4x PyTorch float32 on 2 AVX2 "
        "cores, same vectors), openvino (the same export in OpenVINO, bf16 where the model runs in bf16, one infer "
        "request per core: 1.6-1.9x PyTorch bf16 on 2 AVX-512 cores; optional extra `.[openvino]`), openvino-int8 "
        "(its int8 copy, `newsqa models quantize`: 2.2-3.1x, cosine 0.997 to float32), torch, or auto (where the "
        "model runs in bf16: the int8 copy when it exists and openvino is installed, else torch; elsewhere, when "
        "the export exists, openvino in float32 where installed (1.06-1.29x onnx's ingest on 2 AVX2 cores, same "
        "vectors), else onnx).",
    )

    query_prompt: str | None = Field(
        default="task: question answering | query: ",
        description="Text put before each question when it is embedded (None: the model's own query prompt).",
    )
    document_template: str | None = Field(
        default="title: {title} | text: {text}",
        description="How a chunk is shown to the encoder at ingest ({title}: the article title or 'none', "
        "{text}: the chunk), EmbeddingGemma's document format; None: the chunk alone with the model's own "
        "document prompt. Changing it means re-ingesting.",
    )
    embed_batch_size: int = Field(default=16, ge=1, description="Chunks per embedding batch at ingest.")
    llm_model: str = Field(
        default="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        description="Generator: the default's name or a path to any GGUF chat model.",
    )
    llm_runtime: Literal["auto", "ik", "xllamacpp", "openvino"] = Field(
        default="auto",
        description="What runs the GGUF: ik (ik_llama.cpp, weights repacked at load, ~1.5x faster prompts than "
        "stock llama.cpp on CPU), xllamacpp (stock llama.cpp), openvino (OpenVINO GenAI, 2-4x faster prompts "
        "on CPUs with AMX; needs the .[openvino] extra) or auto (openvino on AMX CPUs where it is installed, "
        "else ik).",
    )
    llm_draft_tokens: int = Field(
        default=5, ge=0, le=16,
        description="Prompt-lookup decoding on the openvino runtime: tokens proposed per step from n-grams of "
        "the prompt and verified in one pass (0: off). Same greedy replies, fewer steps when the answer "
        "repeats the passages' words.",
    )
    llm_openvino_weights: Literal["auto", "gguf", "int8", "w8a8"] = Field(
        default="auto",
        description="What the openvino runtime loads: gguf (the GGUF read directly), int8 (its int8 OpenVINO copy, "
        "made by `newsqa models quantize-llm` or `models pull` where openvino runs; ~1.6x faster generation), "
        "w8a8 (the copy with int8 activations too, `newsqa models quantize-llm --w8a8`: answers ~40% faster on "
        "AMX CPUs, ~2.4 points less accurate on realtimeqa) or auto (int8 when it exists, else the GGUF; never "
        "w8a8).",
    )
    llm_native_build: bool = Field(
        default=True,
        description="On x86 CPUs with AVX-512 VNNI, make `newsqa models pull` compile ik_llama.cpp for this CPU (about "
        "5 minutes once; needs cmake and g++, skipped with a note without them) and the ik runtime load it instead "
        "of the prebuilt AVX2 wheel: answers in ~0.8x the time at the same realtimeqa accuracy (bench/RESULTS.md, "
        "twenty-second and twenty-third sessions). Other CPUs: no effect. false: always the wheel.",
    )
    llm_context: int = Field(default=4096, ge=512, description="LLM context window in tokens.")
    llm_max_tokens: int = Field(default=160, ge=8, description="Most tokens the LLM may generate per answer.")
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature (0: greedy).")
    threads: int = Field(default=0, ge=0, description="CPU threads for the models (0: all cores).")
    chunk_size: int = Field(default=600, ge=100, description="Target chunk length in characters.")
    chunk_overlap: int = Field(default=100, ge=0, description="Characters shared by consecutive chunks.")
    splitter: Literal["sentences", "tutorial"] = Field(
        default="sentences",
        description="Where chunks may break: sentences (paragraphs, lines, then sentence ends in several "
        "scripts) or tutorial (LangChain's default paragraphs, lines, spaces; the evaluation baseline).",
    )
    k: int = Field(
        default=5, ge=1, le=50,
        description="Passages given to the LLM per question (each costs ~150 prompt tokens: ~1.7 s of prompt "
        "reading on 2 cores, at ~90 tokens/s).",
    )
    fetch_k: int = Field(default=40, ge=1, description="Candidates fetched from each search before fusion.")
    dense_weight: float = Field(default=1.0, ge=0.0, description="Weight of the dense ranking in the fusion.")
    keyword_weight: float = Field(
        default=1.0, ge=0.0, description="Weight of the BM25 ranking in the fusion (0: dense search only)."
    )
    recency_weight: float = Field(
        default=0.5, ge=0.0,
        description="Weight of the newest-first ranking (among close candidates) for questions about the "
        "latest/last events; never less than recency_prior (both 0: off).",
    )
    recency_prior: float = Field(
        default=0.25, ge=0.0,
        description="Weight of the same newest-first ranking for every other question: among passages about "
        "the same thing the newer report comes first (0: only for latest/last questions).",
    )
    recency_pool: int = Field(
        default=40, ge=1, description="How many of the best fused candidates the newest-first ranking reorders.",
    )
    recency_margin: float = Field(
        default=0.15, ge=0.0, le=2.0,
        description="A candidate takes part in the newest-first ranking only when its dense similarity is within "
        "this of the best candidate's.",
    )
    period_weight: float = Field(
        default=1.0, ge=0.0,
        description="Boost for articles published in a period the question names ('in October 2025', "
        "'last week', 'en janvier'; read by dateparser) (0: off).",
    )
    period_pool: int = Field(
        default=40, ge=1,
        description="How many of the best fused candidates the period boost may move up.",
    )
    period_margin: float = Field(
        default=0.15, ge=0.0,
        description="A candidate gets the period boost only when its dense similarity is within this of the "
        "best candidate's (keeps a same-week but unrelated article from jumping ahead).",
    )
    period_search_weight: float = Field(
        default=1.0, ge=0.0,
        description="Weight of a second dense and keyword search restricted to the period the question names "
        "(0: off): that period's articles become candidates even when the whole corpus's best leave them out "
        "(only chunks within period_margin of the best similarity).",
    )
    recent_search_weight: float = Field(
        default=0.5, ge=0.0,
        description="Weight of a second search restricted to the recent_days up to the as-of date, for questions "
        "that name no period (0: off).",
    )
    recent_days: int = Field(default=7, ge=1, description="The window of that recent search, in days.")
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal-rank-fusion constant (higher: flatter).")
    max_per_article: int = Field(
        default=2, ge=0,
        description="At most this many passages from one article among the k (0: no limit).",
    )
    sentence_window: int = Field(
        default=1, ge=0,
        description="Sentences of the neighbouring chunks added to a passage that starts or stops mid-sentence "
        "or opens with a word referring back (he, cette...) (0: passages as stored).",
    )
    focus_chars: int = Field(
        default=0, ge=0,
        description="Cut each passage to its sentences closest to the question, at most about this many "
        "characters, before the LLM reads it: a shorter prompt answers sooner (0: passages whole).",
    )
    translate_queries: bool = Field(
        default=True,
        description="Translate the question with the LLM into the corpus's other languages (those holding 1% of "
        "the chunks or more) and search each language with its own translation, dense and keyword (cached; about "
        "a second per new question and language on 2 cores; nothing for a one-language corpus).",
    )
    reranker_model: str | None = Field(
        default=None,
        description="A sentence-transformers CrossEncoder folder to rerank the best fused candidates (none ships "
        "offline; unset: no reranking stage).",
    )
    rerank_top: int = Field(default=20, ge=2, description="Fused candidates the reranker reorders.")
    collection: str = Field(default="newsqa", description="Chroma collection name.")
    chroma_url: str | None = Field(
        default=None,
        description="A Chroma server (e.g. http://127.0.0.1:8001, started with `chroma run`) instead of the "
        "embedded store in index_dir; the keyword index and uploads stay in index_dir.",
    )
    prompt_style: Literal["cited", "plain"] = Field(
        default="cited",
        description="cited: numbered passages and [n] citations; plain: a tutorial-style prompt (the baseline).",
    )
    passage_order: Literal["best_first", "best_last"] = Field(
        default="best_first",
        description="Order the numbered passages are shown in: best_first ([1] on top), or best_last (the same "
        "numbers, [1] shown last, next to the question).",
    )
    api_token: str | None = Field(
        default=None, description="Bearer token the REST API requires (none: open, for loopback use)."
    )
    condense_mode: Literal["concat", "llm"] = Field(
        default="concat",
        description="How a follow-up is made standalone: concat (previous question + follow-up) or llm (rewrite).",
    )
    screen_instructions: bool = Field(
        default=True,
        description="Take sentences that address the model ('ignore previous instructions…') out of passages "
        "before they reach the prompt (the stored text and the sources panel keep them).",
    )
    resolve_dates: bool = Field(default=True, description="Show partial dates in passages as absolute dates.")
    verify_citations: bool = Field(
        default=True, description="Move a citation to the passage that clearly supports its sentence better."
    )
    check_figures: bool = Field(
        default=True,
        description="Take the citations off answer sentences that state a number no passage or the question holds; "
        "abstain when such sentences are half the answer or more (needs verify_citations).",
    )
    check_terms: bool = Field(
        default=True,
        description="Take the citations off answer sentences whose own words (those not in the question) are "
        "mostly in no passage, as for figures (needs verify_citations; sentences citing a passage in another "
        "language are not judged).",
    )
    period_filter: bool = Field(
        default=True,
        description="When the question names a period ('this week', 'in July 2022') and at least two dated passages "
        "can report on it (published since it began, or up to a month before naming one of its days; six months "
        "for a month), leave the others out of the prompt.",
    )
    check_coverage: bool = Field(
        default=True,
        description="Answer 'not in the articles' without asking the LLM when the question names a period "
        "('in December 2025', 'this week') that every passage found predates and none mentions.",
    )

    @field_validator("query_backend", "document_backend")
    @classmethod
    def _check_backend(cls, value: str, info) -> str:
        allowed = {"auto", "torch", "onnx"}
        if info.field_name == "query_backend":
            allowed.add("onnx-int8")
        if info.field_name == "document_backend":
            allowed |= {"openvino", "openvino-int8"}
        if value not in allowed:
            raise ValueError(f"{info.field_name} must be one of {', '.join(sorted(allowed))}, not {value!r}")
        return value

    @field_validator("embedding_dtype")
    @classmethod
    def _check_dtype(cls, value: str) -> str:
        if value not in {"auto", "bfloat16", "float32", "float16"}:
            raise ValueError(f"embedding_dtype must be auto, bfloat16, float16 or float32, not {value!r}")
        return value

    def resolved_dtype(self) -> str:
        """`auto` -> bfloat16 on CPUs with native bf16 (AVX-512 BF16 or AMX), else float32.

        Measured on a 2-core AVX2 machine: bf16 ran 5x slower than float32 there (emulated), while on
        AVX-512 BF16 machines it is about twice as fast as float32 with the same rankings.
        """
        if self.embedding_dtype != "auto":
            return self.embedding_dtype
        return "bfloat16" if cpu_has_native_bf16() else "float32"

    def resolved_llm_runtime(self) -> str:
        """`auto` -> openvino on CPUs with AMX where OpenVINO GenAI is installed, else ik. Without AMX OpenVINO
        GenAI read prompts no faster than ik (bench/RESULTS.md, eleventh session)."""
        if self.llm_runtime != "auto":
            return self.llm_runtime
        import importlib.util

        return "openvino" if cpu_has_amx() and importlib.util.find_spec("openvino_genai") else "ik"

    def resolved_threads(self) -> int:
        import os

        return self.threads or max(1, os.cpu_count() or 1)
