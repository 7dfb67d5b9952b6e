"""Follow-up questions: rewrite "And where was that?" into a question that stands alone (a condense step)."""

from __future__ import annotations

import re
from typing import Sequence

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

CONDENSE_SYSTEM = (
    "Rewrite the user's last question so that it can be understood without the conversation. "
    "Replace words like 'that', 'he' or 'there' with what they refer to in the earlier question. "
    "Reply with the rewritten question only.\n\n"
    "Example\nConversation:\nUser: When did the ECB last cut its rates?\nAssistant: In June 2025.\n"
    "Last question: And by how much?\nRewritten question: By how much did the ECB cut its rates in June 2025?"
)
CONDENSE_HUMAN = "Conversation:\n{conversation}\n\nLast question: {question}\nRewritten question:"
_MARKERS = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")


def _turns(history: Sequence[dict], max_turns: int = 4, max_chars: int = 300) -> str:
    lines = []
    for turn in list(history)[-max_turns:]:
        who = "User" if turn.get("role") == "user" else "Assistant"
        text = _MARKERS.sub("", str(turn.get("content", ""))).strip()
        lines.append(f"{who}: {text[:max_chars]}")
    return "\n".join(lines)


def condense_question(llm, history: Sequence[dict] | None, question: str, mode: str = "concat") -> str:
    """The question made to stand alone; the question itself when there is no history.

    mode "concat" (default) puts the previous question in front of the follow-up: measured with the default
    1.5B model, its own rewrite of "And where was that?" ("Where was Bessent last meeting He Lifeng in Malaisie
    in October 2025?") made it answer NOT IN ARTICLES, while "When did Bessent last meet He Lifeng? And where
    was that?" was answered right. Mode "llm" asks the LLM to rewrite (better with larger models).
    """
    if not history:
        return question
    if mode == "concat":
        previous = next((str(t.get("content", "")).strip() for t in reversed(history) if t.get("role") == "user"), "")
        return f"{previous} {question}" if previous and previous not in question else question
    prompt = ChatPromptTemplate.from_messages([("system", CONDENSE_SYSTEM), ("human", CONDENSE_HUMAN)])
    out = (prompt | llm | StrOutputParser()).invoke({"conversation": _turns(history), "question": question})
    lines = [ln.strip() for ln in out.strip().splitlines() if ln.strip()]
    line = lines[0].strip().strip('"«»').removeprefix("Rewritten question:").strip() if lines else ""
    if not line or len(line) > 3 * len(question) + 200:
        return question
    return line
