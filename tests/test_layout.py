"""The layout keeps the data flow readable: each stage imports only earlier ones, and no module grows past ~400
lines. Imports inside functions count too (they are how heavy libraries load lazily)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("qa", "vectorstore", "ui")

# What each folder may import from the project, besides itself. The stages run ingest -> retrieve -> answer;
# llm and models are adapters the factory wires in; the top-level modules (service, api, cli, ...) compose them.
ALLOWED = {
    "vectorstore": set(),
    "qa.ingest": {"vectorstore", "qa.types", "qa.errors"},
    "qa.retrieve": {"vectorstore", "qa.types", "qa.errors", "qa.ingest"},
    "qa.answer": {"vectorstore", "qa.types", "qa.errors", "qa.ingest", "qa.retrieve"},
    "qa.llm": {"qa.types", "qa.errors"},
    "qa.models": {"qa.types", "qa.errors", "qa.factory", "qa.settings", "vectorstore"},
}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def project_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n.split(".")[0] in PACKAGES}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_each_stage_imports_only_earlier_stages_and_adapters():
    found = modules()
    wrong = []
    for module, path in found.items():
        rule = next((prefix for prefix in ALLOWED if within(module, prefix)), None)
        for name in project_imports(path):
            if name not in found and name.rsplit(".", 1)[0] in found:
                name = name.rsplit(".", 1)[0]  # `from qa.retrieve import dates`: the module is qa.retrieve.dates
            if module.startswith("qa") and within(name, "ui") and module != "qa.cli":
                wrong.append(f"{module} -> {name}")  # qa never reaches up to ui (but `newsqa serve` starts it)
            if rule is None or within(name, rule):
                continue
            if not any(within(name, allowed) for allowed in ALLOWED[rule]):
                wrong.append(f"{module} -> {name}")
    assert not wrong, wrong


def test_no_module_is_longer_than_the_limit():
    long = {module: n for module, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long
