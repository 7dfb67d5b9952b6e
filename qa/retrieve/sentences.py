"""Sentence splitting for passages and replies, in several scripts and languages: a full stop after an
abbreviation ("Mr.", "Jan.", "U.S.") ends no sentence when what follows goes on with it. Used by the sentence
window and instruction screening (qa/retrieve) and by the citation checks (qa/answer)."""

from __future__ import annotations

import re

_SENTENCE_BREAK = re.compile(r"(?<=[.!?»])\s+")
LEADING_CITES = re.compile(r"^(?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\][.,;]?)+")  # "[1]." opening a piece


def starts_lower(piece: str) -> bool:
    """Whether the first letter of `piece` is a lower-case one (it goes on a sentence)."""
    first = next((c for c in piece if c.isalpha()), "")
    return first.islower()


# A full stop that ends an abbreviation ends no sentence when what follows continues it: a title before a name
# ("Mr. Smith", "Sen. Warren", "Roe v. Wade"), a month or "No." before a number ("Jan. 24", "3 févr. 2026"),
# an initial or capitals' acronym before a capitalised word that is not a usual sentence opener ("J. Smith",
# "M. Macron", "U.S. Senate", but "…in the U.S. The move…" and "Plan B. The vote" stay two). A marker right after
# the full stop ("U.S. [1] Trump…") shows the model ended its sentence there. sentencex, a multilingual segmenter,
# was tried first: it needs the text's language and still split "M. Macron" and "3 févr. 2026".
_LETTER = r"[^\W\d_]"
_AFTER = r"(?:^|(?<=[\s(\"“«'-]))"  # the abbreviation is a word of its own: "St." but not "Best."
_TITLE = re.compile(_AFTER + r"(?:Mr|Mrs|Ms|Dr|St|Sen|Rep|Gov|Gen|Lt|Col|Sgt|Prof|Sra|Mlle|Mgr|vs|v)\.$")
_BEFORE_NUMBER = re.compile(
    _AFTER + r"(?:No|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
    r"|[Jj]anv|[Ff]évr|[Aa]vr|[Jj]uil|sept|oct|nov|déc|ene|abr|dic)\.$"
)
_INITIALS = re.compile(_AFTER + rf"(?:{_LETTER}\.-?)+$")  # "J.", "U.S.", "p.m.", "J.-C."
_OPENERS = frozenset(
    "The A An It Its He She They We I You This That These Those There Here But And Or So Yet In On At As For If When "
    "While After Before Since Then Now Le La Les L Il Elle Ils Elles Un Une Des Ce Cette Ces Mais Et Puis Alors "
    "El Los Las Una Pero".split()
)


def continues(previous: str, piece: str) -> bool:
    """Whether `piece` goes on the sentence `previous` (which ends with a full stop) began."""
    if not previous.endswith(".") or LEADING_CITES.match(piece):
        return False
    if _TITLE.search(previous):
        return True
    if _BEFORE_NUMBER.search(previous):
        return piece[:1].isdigit()
    initials = _INITIALS.search(previous)
    if initials and initials.group(0).isupper():  # capitals only: "p.m." is followed by a new sentence
        first = re.match(r"[\"“«']?(\w+)", piece)
        return bool(first) and first.group(1)[:1].isupper() and first.group(1) not in _OPENERS
    return False


def split_sentences(text: str, abbreviations: bool = True) -> list[str]:
    """Sentences: a break after . ! ? or » unless what follows starts in lower case ("e.g. the", "p.m. on") or,
    with `abbreviations`, goes on after one ("Jan. 24", "U.S. Senate"); any script's capitals, digits and opening
    quotes start a sentence. Screening for planted instructions passes `abbreviations=False`: a line glued to an
    acronym must still start a sentence of its own."""
    out: list[str] = []
    for piece in _SENTENCE_BREAK.split(" ".join(text.split())):
        piece = piece.strip()
        if not piece:
            continue
        if out and (starts_lower(piece) or re.fullmatch(r"\d{1,2}[.)]", out[-1])
                    or (abbreviations and continues(out[-1], piece))):
            out[-1] = f"{out[-1]} {piece}"  # a continuation, or a list number's item
        else:
            out.append(piece)
    return out
