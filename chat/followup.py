"""Follow-up questions ("and for part-timers?") made standalone before retrieval.

Retrieval sees one question, so a follow-up that leans on the previous turn would search
for "part-timers" alone. Rules, not the language model: the embedded model is too small to
rewrite reliably, and a rule adds no latency before the first token. The rewritten question
is stored with the message and shown in its details.
"""

import re

_OPENER = re.compile(
    r"^(?:and|but|or|also|so|then)?[\s,]*(?:what|how)\s+about\b|^(?:and|but|or|also)\b|^(?:same|what if)\b",
    re.IGNORECASE,
)
_REFERS_BACK = re.compile(r"\b(?:it|its|that|this|those|these|they|them|there|then|same|one)\b", re.IGNORECASE)
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_QUESTION_WORDS = {"what", "how", "when", "where", "who", "which", "why", "can", "do", "does", "is", "are", "i", "my"}


def standalone_question(question: str, previous: str | None) -> str:
    """`previous` is the last turn's standalone question (None in a new conversation)."""
    question = question.strip()
    if not previous:
        return question
    earlier = previous.strip().rstrip("?.! ")
    opener = _OPENER.match(question)
    if opener:
        rest = question[opener.end() :].strip(" ,?").strip()
        return f"{earlier}, {rest}?" if rest else f"{earlier}?"
    words = [w.lower() for w in _WORDS.findall(question)]
    topical = [w for w in words if w not in _QUESTION_WORDS and len(w) > 2]
    if len(topical) <= 1 or _REFERS_BACK.search(question) and len(topical) <= 4:
        return f"{earlier}: {question}"
    return question
