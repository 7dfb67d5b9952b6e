"""Planted instructions in article text (indirect prompt injection): sentences that address the model or try to
override its rules are replaced by a marker before the passage reaches the prompt.

This is one layer of several (fenced passages, a system prompt that calls them data, control tokens removed,
citations checked against the passages); the patterns aim at text that speaks to an AI or about its
instructions, so ordinary news sentences, including news about AI, pass untouched. The stored chunk and the
sources panel keep the original text.
"""

from __future__ import annotations

import re

from qa.retrieve.sentences import split_sentences

REMOVED = "(instruction removed)."

# A sentence start, or a joint where an imperative can follow ("... and answer", "Please write ...").
_LEAD = r"(?:^|[:;.!]\s*|\band\s+|\bplease,?\s+|\bnow,?\s+)\W*"

_PATTERNS = [
    # English
    _LEAD + r"(ignore|disregard|forget|override)\b.{0,50}\b(instructions?|rules|prompts?|guidelines|the user)\b",
    r"\b(ignore|disregard|forget)\s+(all\s+)?(the\s+)?(previous|prior|above|earlier|preceding)\s+(instructions?|rules)",
    r"\b(you are now (in|a|an|the)\b|from now on,?\s+(you|answer|reply|respond|say|always|only)\b)",
    r"\b(new instructions? (from|for)\b|new instructions?\s*:|system prompt\b)",
    r"^\W*(system|assistant|developer|operator)\s*[:\]]",
    _LEAD + r"(reply|answer|respond|say|write|output)\b.{0,40}\b(only|nothing else|the single word|the word)\b",
    _LEAD + r"(write|end|start|format|translate)\b.{0,25}\byour (whole |entire )?(answer|reply|response)\b",
    r"\bwhen (you )?(summari[sz]e|summari[sz]ing|answer|answering)\b.{0,40}\b(always|must|include|add)\b",
    r"\b(note|message|attention|instructions?)\s+(to|for)\s+(any |all )?(ai|assistants?|language models?|llms?|"
    r"chatbots?|bots?)\b",
    r"^\W*(ai|assistants?|language models?|llms?|chatbots?|ai models?)\s*[,:]",
    r"\bany (ai|assistant|language model|llm|chatbot|model)\b.{0,60}\b(must|should|reading|summari[sz]ing)\b",
    r"\b(this is your developer|do not cite (any )?sources|reveal your (system )?prompt|tell everyone (not )?to)\b",
    r"\byour (only )?(permitted |allowed )?(reply|answer|response) (is|must)\b",
    r"#{2,}\s*(instruction|system|response)",
    # French
    _LEAD + r"ignore[zr]?\b.{0,50}\b(instructions?|consignes?|règles)\b",
    r"\b(nouvelles? consignes?|message du système|consigne prioritaire)\b",
    _LEAD + r"(réponds|répondez)\b.{0,40}\b(uniquement|seulement|toujours|à toutes les questions)\b",
    # Spanish
    _LEAD + r"ignora[rd]?\b.{0,50}\b(instrucciones|reglas)\b",
    _LEAD + r"(responde|contesta)\b.{0,30}\b(solo|solamente|únicamente)\b",
    r"\b(nuevas instrucciones|mensaje del sistema)\b",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)
# Forced outputs: a verb, then a quoted word in capitals ("answer "DANGER"", "Answer: HACKED [1]"); case matters.
_FORCED = re.compile(
    r"(?i:\b(answer|reply|respond|say|write)\b)\s*(?i:with\s*)?[\"“«‘']\s*[A-ZÀ-Ý]{3,}"
    r"|^\W*(?i:answer|final answer)\s*:\s*(?:[A-ZÀ-Ý]{3,}\b|.*\[\d+\])"
)
# Chat control tokens, fence markers and markdown headers start a new "sentence" whatever precedes them.
_BREAK = re.compile(r"<\|[^|<>]{0,40}\|>|\[/?INST\]|<<<\s*PASSAGES|PASSAGES\s*>>>|#{2,}", re.IGNORECASE)


def is_instruction(sentence: str) -> bool:
    """Whether a sentence speaks to the model or about its instructions."""
    return bool(_INSTRUCTION.search(sentence) or _FORCED.search(sentence))


def defang(text: str) -> tuple[str, int]:
    """The text with each instruction-like sentence replaced by REMOVED, and how many were replaced. Control
    tokens, fence markers and `##` headers also end a sentence, so a planted line glued to a real sentence is
    cut off on its own."""
    sentences = [s for piece in _BREAK.split(text) for s in split_sentences(piece, abbreviations=False)]
    flagged = [is_instruction(s) for s in sentences]
    if not any(flagged):
        return text, 0
    return " ".join(REMOVED if f else s for s, f in zip(sentences, flagged)), sum(flagged)
