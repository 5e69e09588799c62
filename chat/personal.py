"""Questions about oneself ("How much leave do I have left?") answered from the asker's own record first.

A personal record (knowledge.records) is one small document per employee, readable by that
person and HR. For a question in the first person the product looks in the asker's own
records before the policies, and says how old the figure is: a balance without its date is
half an answer.
"""

import re
from datetime import date

from chat import figures
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
