"""The kind of answer a question asks for, and replies that do not give it (qa/answer/asked.py)."""

import pytest

from qa.answer.asked import asked_kind, gives

LOUVRE_FR = "Combien de bijoux ont été volés au Louvre ?"
GREER_FR = ("Avec quel responsable américain, en plus de Scott Bessent, He Lifeng s'est-il entretenu par téléphone "
            "en décembre ?")


@pytest.mark.parametrize("question, kind", [
    ("How many games was Deshaun Watson suspended for?", "number"),
    (LOUVRE_FR, "number"),
    ("¿Cuántos muertos dejó el terremoto?", "number"),
    ("When did Bessent last meet He Lifeng?", "date"),
    ("En quelle année la cathédrale a-t-elle rouvert ?", "date"),
    ("On what date did the Louvre reopen?", "date"),
    ("Which country won the World Cup?", "new"),
    ("When did Bessent last meet He Lifeng? And where was that?", "new"),  # a follow-up made to stand alone
])
def test_the_kind_is_read_from_the_last_question(question, kind):
    assert asked_kind(question) == kind


@pytest.mark.parametrize("question, reply, language, ok", [
    (LOUVRE_FR, "How many pieces of crown jewels were stolen from the Louvre? [1]", "fr", False),  # restated
    (LOUVRE_FR, "Huit bijoux ont été volés [1].", "fr", True),  # a number in words
    (GREER_FR, "He Lifeng s'est entretenu par téléphone avec Scott Bessent en décembre [2].", "fr", False),
    (GREER_FR, "Avec Jamieson Greer [2].", "fr", True),
    ("When did Bessent last meet He Lifeng?", "Bessent last met He Lifeng in Kuala Lumpur [1].", "en", False),
    ("When did Bessent last meet He Lifeng?", "In October 2025 [1].", "en", True),
    ("When did Bessent last meet He Lifeng?", "Last week, in Kuala Lumpur [1].", "en", True),
    ("What did Beijing agree to postpone?", "Beijing agreed to postpone [1].", "en", False),
    ("What did Beijing agree to postpone?", "Its rare-earth export controls [1].", "en", True),
])
def test_a_reply_gives_the_kind_asked_or_not(question, reply, language, ok):
    assert gives(reply, question, language) is ok
