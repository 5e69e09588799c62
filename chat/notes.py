"""What the answer says after the model's words: where documents disagree, and when the cited rules apply.

Written by the product, not the model: a small model neither notices a contradiction
between two sources nor copies dates reliably, and neither may be left to chance in an
answer about someone's pay or leave.
"""

from collections.abc import Iterable

from knowledge.conflicts import Disagreement
from knowledge.retrieval import Passage


def disagreement_note(disagreements: list[Disagreement], passages: list[Passage]) -> str:
    """One sentence per contradiction, quoting both sides with markers, so both are cited."""
    number = {p.chunk_id: n for n, p in enumerate(passages, start=1)}
    titles = {p.chunk_id: p.document_title for p in passages}
    lines = []
    for d in disagreements:
        if d.chunk_id in number and d.other_chunk_id in number:
            lines.append(
                f"The documents disagree here: {titles[d.chunk_id]} says “{_quoted(d.sentence)}” "
                f"[{number[d.chunk_id]}], while {titles[d.other_chunk_id]} says “{_quoted(d.other_sentence)}” "
                f"[{number[d.other_chunk_id]}]. Ask HR which applies to you."
            )
    return "".join(f"\n\n{line}" for line in dict.fromkeys(lines))


def unanswered_note(parts: list[str]) -> str:
    """The parts of the question no sentence found answers, said in words after what was found."""
    if not parts:
        return ""
    quoted = "; ".join(f"“{part}”" for part in parts)
    which = "this part" if len(parts) == 1 else "these parts"
    return f"\n\nThe documents found do not answer {which} of your question: {quoted}."


def incomplete_warning(parts: list[str]) -> str:
    """What the page and the export say above an answer that covers only some of its question."""
    if not parts:
        return ""
    quoted = "; ".join(f"“{part}”" for part in parts)
    return f"This answer may be incomplete: the documents found do not answer {quoted}."


def _quoted(sentence: str) -> str:
    return sentence.strip().rstrip(".")


def dates_note(cited: Iterable[Passage]) -> str:
    """When each cited version applies ("Leave and Holidays: in force since 1 January 2026.")."""
    lines = {}
    for passage in cited:
        if passage.version:
            lines.setdefault(passage.document_id, f"{passage.document_title}: {passage.version_clause}.")
    return "\n\n" + " ".join(lines.values()) if lines else ""
