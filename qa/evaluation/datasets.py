"""Question sets for evaluation: the native JSONL format and RealTimeQA-style multiple choice."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from qa.retrieve.dates import parse_as_of
from qa.errors import InputError
from qa.ingest.loaders import detect_language


@dataclass(frozen=True)
class EvalItem:
    """One question with what counts as a right answer and which articles hold the evidence."""

    id: str
    question: str
    as_of: str | None = None
    answers: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()  # multiple choice: `answers[0]` is the right one
    answerable: bool = True
    gold_article_ids: tuple[str, ...] = ()
    gold_urls: tuple[str, ...] = ()
    gold_sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)
    # Strings an answer must never contain (e.g. what a planted prompt injection asks the model to say).
    forbidden: tuple[str, ...] = ()
    language: str | None = None  # the question's language (given, or detected when the set is loaded)

    @property
    def has_gold(self) -> bool:
        return bool(self.gold_article_ids or self.gold_urls or self.gold_sources)

    def groups(self) -> list[str]:
        language = [f"lang:{self.language}"] if self.language else []
        return ["all", "answerable" if self.answerable else "unanswerable", *language, *self.tags]


def normalize_url(url: str) -> str:
    """Compare urls without scheme, www., query, fragment (e.g. #:~:text=...) or trailing slash."""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.")
    return f"{host}{parts.path.rstrip('/')}"


def _strings(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _choice_index(answer: list, choices: tuple[str, ...], where: str) -> str:
    try:
        return choices[int(answer[0])]
    except (IndexError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: 'answer' {answer!r} is not an index into the {len(choices)} 'choices'") from exc


def parse_item(record: dict, where: str) -> EvalItem:
    if not isinstance(record, dict) or not isinstance(record.get("question"), str) or not record["question"].strip():
        raise InputError(f"{where}: each line needs a non-empty 'question' (a string)")
    item_id = str(record["id"]) if record.get("id") not in (None, "") else where
    as_of = record.get("as_of")
    try:
        parse_as_of(as_of)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
    language = record.get("language") or detect_language(record["question"])
    if "choices" in record:  # RealTimeQA style
        choices = _strings(record["choices"])
        answer = record.get("answer")
        if isinstance(answer, list):  # indices into choices, as in the original release
            answer = _choice_index(answer, choices, where)
        if answer not in choices:
            raise InputError(f"{where}: 'answer' must be one of 'choices'")
        return EvalItem(
            id=item_id, question=record["question"], as_of=as_of, answers=(str(answer),),
            choices=choices, answerable=True, gold_urls=_strings(record.get("gold_urls")),
            tags=_strings(record.get("tags")) or ("multiple-choice",), language=language,
        )
    answerable = record.get("answerable", True)
    if not isinstance(answerable, bool):
        raise InputError(f"{where}: 'answerable' must be true or false (JSON booleans), not {answerable!r}")
    return EvalItem(
        id=item_id, question=record["question"], as_of=as_of, answers=_strings(record.get("answers")),
        answerable=answerable, language=language,
        gold_article_ids=_strings(record.get("gold_article_ids")), gold_urls=_strings(record.get("gold_urls")),
        gold_sources=_strings(record.get("gold_sources")), tags=_strings(record.get("tags")),
        forbidden=_strings(record.get("forbidden")),
    )


def load_dataset(path: str | Path) -> list[EvalItem]:
    """Read a JSONL question set; a bad line raises InputError naming the file and line."""
    path = Path(path)
    if path.is_dir():
        path = path / "questions.jsonl"
    if not path.is_file():
        raise InputError(f"no question set at {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save the question set as UTF-8") from exc
    items, seen = [], set()
    # split("\n"), not splitlines(): JSON strings may hold U+2028 or U+0085, which splitlines() breaks on.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: malformed JSON ({exc.msg})") from exc
        item = parse_item(record, where)
        if item.id in seen:
            raise InputError(f"{where}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return items
