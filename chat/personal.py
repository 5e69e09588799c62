"""Questions about oneself ("How much leave do I have left?") answered from the asker's own record first.

A personal record (knowledge.records) is one small document per employee, readable by that
person and HR. For a question in the first person the product looks in the asker's own
records before the policies, and says how old the figure is: a balance without its date is
half an answer.
"""

import re
from dataclasses import dataclass
from datetime import date

from chat import figures
from chat.extraction import answer_type
from knowledge.retrieval import Passage

_FIRST_PERSON = re.compile(
    r"\b(?:do|did|have|has|can|am|will|should|shall|may)\s+i\b|\bi\s+(?:have|had|got|get|am|still|took|used|"
    r"earned|accrued|carried|need)\b|\b(?:my|mine|me)\b",
    re.IGNORECASE,
)


def about_oneself(question: str) -> bool:
    return bool(_FIRST_PERSON.search(question))


def record_date(passage: Passage) -> date | None:
    """The date the record states of itself ("As of: 2026-11-01"), if any."""
    for figure in figures.figures(passage.text):
        if figure.units == ("date",):
            try:
                return date.fromisoformat(figure.value)
            except ValueError:  # "2026-13-45" in a hand-made CSV: no date rather than a wrong one
                continue
    return None


def dated(sentence: str, passage: Passage) -> str:
    """The record's line with the record's date: "Annual leave remaining: 2 days, as of 1 November 2026"."""
    when = record_date(passage)
    line = sentence.strip().lstrip("-*• ").rstrip(".")
    if when is None or any(f.units == ("date",) for f in figures.figures(line)):
        return f"{line}."
    return f"{line}, as of {when.day} {when:%B %Y}."


@dataclass(frozen=True)
class Field:
    """One line of a personal record: "- Annual leave entitlement: 27 days"."""

    label: str
    value: str
    start: int  # span of the line in the record's text
    end: int


_FIELD = re.compile(r"(?m)^[ \t]*[-*•][ \t]+([^:\n]{2,80}):[ \t]*(\S[^\n]*)$")
_DATE_LABEL = re.compile(r"^\s*(?:as\s+of|date|updated|last\s+updated)\s*$", re.IGNORECASE)

# What a balance-like record holds, in the words of the question and of the record's labels:
# "get" asks the entitlement, "left" the remainder, "taken" what was used, "carry" what moved on.
INTENTS = {
    "entitlement": ({"get", "receive", "entitled", "entitlement", "allowance", "total", "earn"},
                    {"entitlement", "entitled", "allowance", "total", "annual"}),
    "remaining": ({"left", "remaining", "remain", "balance", "still", "available", "unused", "spare"},
                  {"remaining", "left", "balance", "available"}),
    "taken": ({"taken", "took", "used", "use", "had", "spent", "booked"}, {"taken", "used", "booked", "spent"}),
    "carried": ({"carry", "carried", "carrying", "rolled", "roll", "transferred"}, {"carried", "carry", "rolled"}),
}  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+")
_DID = re.compile(r"^\s*(?:and\s+)?(?:did|have|has|what\s+is|what\s+are)\s+(?:i|my)\b", re.IGNORECASE)
_WHEN = re.compile(r"^\s*(?:and\s+)?(?:by\s+|until\s+|till\s+)?when\b", re.IGNORECASE)
_PERMISSION = re.compile(r"^\s*(?:and\s+|but\s+|so\s+)?(?:can|may|could|should|must|am\s+i\s+allowed)\b", re.IGNORECASE)


def record_fields(text: str) -> list[Field]:
    """The record's value lines, its date line aside."""
    return [
        Field(m.group(1).strip(), m.group(2).strip().rstrip("."), m.start(), m.end())
        for m in _FIELD.finditer(text)
        if not _DATE_LABEL.match(m.group(1))
    ]


def asked_intents(question: str) -> list[str]:
    """Which of a record's quantities a question asks for, in the question's order: a question for an
    amount ("how many days do I get") or about one's own ("did I carry over any"); none for a question
    of permission ("can I carry those over?" asks the policy, not the record) or of anything else."""
    if _PERMISSION.match(question) or _WHEN.match(question):
        return []
    wanted = answer_type(question)
    if not (wanted and wanted.kind == "figure") and not _DID.match(question):
        return []  # "do I get a company car?" asks no quantity of the record
    words = [w.lower() for w in _WORD.findall(question)]
    found = []
    for word in words:
        for intent, (asked, _) in INTENTS.items():
            if word in asked and intent not in found:
                found.append(intent)
    if "remaining" in found and "entitlement" in found and "left" in words:
        found.remove("entitlement")  # "how many days do I get left" asks what is left
    return found


def fields_for(fields: list[Field], intents: list[str]) -> list[Field]:
    """The record's fields that hold what was asked, one per intent, in the question's order."""
    chosen = []
    for intent in intents:
        _, labelled = INTENTS[intent]
        for candidate in fields:
            words = {w.lower() for w in _WORD.findall(candidate.label)}
            if words & labelled and candidate not in chosen and (intent != "entitlement" or not words & _OTHERS):
                chosen.append(candidate)
                break
    return chosen


_OTHERS = INTENTS["remaining"][1] | INTENTS["taken"][1] | INTENTS["carried"][1]


def in_second_person(fields: list[Field], passage: Passage) -> str:
    """One sentence for the asker: "Your annual leave entitlement is 27 days, as of 1 November 2026."."""
    clauses = [f"your {_lower_first(f.label)} {'are' if _plural(f.label) else 'is'} {f.value}" for f in fields]
    joined = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]
    return dated(joined[:1].upper() + joined[1:], passage)


def _lower_first(label: str) -> str:
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def _plural(label: str) -> bool:
    last = label.split()[-1].lower()
    return last.endswith("s") and not last.endswith(("ss", "us", "is"))
