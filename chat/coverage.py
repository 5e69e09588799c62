"""The parts of a question, so that an answer covers each of them or says which it does not.

"Do I need a doctor's note, and from which day?" asks two things; "I work three days a week
and have been here six years. How much annual leave do I get?" asks one thing under two
conditions, each answered by its own rule. An answer that quotes the one sentence closest to
the whole question answers half of such a question and looks complete. Parts come from rules
on the question's own shape (sentences, "and" before a question word, conditions that state a
figure), not from a model: they add no latency and say why a part was made.
"""

import re
from dataclasses import dataclass

from chat import figures
from chat.extraction import content_words
from knowledge.sentences import sentences

MAX_PARTS = 4  # a question with more parts than this is answered as a whole (a list, not several questions)

_ASKING = "what|which|when|where|who|whom|how|why|is|are|was|were|do|does|did|can|could|should|must|will|would|may"
# "and" that starts another question: "…, and from which day?", "… and who approves…".
_NEXT_QUESTION = re.compile(
    rf"(?:,\s*|\s+)(?:and|also)\s+(?=(?:{_ASKING}|from|by|until|since|for\s+how)\b)", re.IGNORECASE
)
_CONDITION_AND = re.compile(r"\s*(?:,\s*)?\band\b\s*", re.IGNORECASE)
_QUESTION_START = re.compile(rf"^\s*(?:{_ASKING}|am|have|has|if)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Part:
    asked: str  # the words of the question this part is (what the answer quotes when the documents do not say)
    query: str  # what is matched against the passages' sentences: the part with what it leans on
    condition: bool = False  # a fact the asker states about themselves ("I work three days a week")
    leans: bool = False  # names nothing of its own ("from which day?"): about the first part's subject


def question_parts(question: str) -> list[Part]:
    """One part for an ordinary question (the question itself); several for two questions in one,
    or for a question under conditions the asker states, each with its figure."""
    pieces = [s.strip() for s in sentences(" ".join(question.split())) if s.strip()]
    asks = [p for p in pieces if p.endswith("?") or _QUESTION_START.match(p)]
    states = [p for p in pieces if p not in asks]
    if not asks:
        return [Part(question.strip(), question.strip())]
    questions: list[str] = []
    for ask in asks:
        questions += [q.strip(" ,") for q in _NEXT_QUESTION.split(ask) if q.strip(" ,?")]
    main = questions[0]
    parts = [Part(_asked(main), main)]
    for later in questions[1:]:
        leans = _leans(later)
        query = f"{later.rstrip('?')} ({_topic(main)})?" if leans else later
        parts.append(Part(_asked(later), query, leans=leans))
    for statement in states:
        for condition in _conditions(statement):
            parts.append(Part(condition, f"{condition}. {main}", condition=True))
    if len(parts) > MAX_PARTS:
        return [Part(question.strip(), question.strip())]
    return parts


_BACK = re.compile(r"\b(?:it|its|they|them|their|those|these|that|this|one|ones)\b", re.IGNORECASE)


def _leans(question: str) -> bool:
    """ "from which day?", "is it paid?": a part that names nothing of its own is about the first one's subject."""
    return bool(_BACK.search(question)) or len(content_words(question)) <= 1


def _asked(text: str) -> str:
    text = text.strip().rstrip("?").strip()
    return f"{text[:1].lower()}{text[1:]}?" if text else text


def _topic(question: str) -> str:
    """The question without its question words: "Do I need a doctor's note" -> "need a doctor's note"."""
    return re.sub(r"^\s*(?:(?:what|which|when|where|who|how|why)\s+)?(?:\w+\s+(?:i|you|we)\s+)?", "", question,
                  flags=re.IGNORECASE).rstrip("?").strip() or question  # fmt: skip


def _conditions(statement: str) -> list[str]:
    """A statement's conditions: the clauses joined by "and" that each state a figure
    ("I work three days a week and have been here six years"), else the statement whole."""
    clauses = [c.strip(" ,.") for c in _CONDITION_AND.split(statement) if c.strip(" ,.")]
    if len(clauses) > 1 and all(figures.figures(c) for c in clauses):
        return clauses
    return [statement.strip(" ,.")]
