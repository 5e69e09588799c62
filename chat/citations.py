"""Markers like [1], [2][3] or [1, 3] in an answer, mapped to the passages the model was given.

A marker naming no given passage is removed from the text and counted, never shown.
A model's sentence without a marker is attributed before it is shown (`chat.gate`).
"""

import re
from dataclasses import dataclass

from django.urls import reverse

from knowledge.retrieval import Passage

MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def passage_url(document_id: int, chunk_id: int | None) -> str:
    """The document view, scrolled to the passage (the view re-checks the reader's rights)."""
    return reverse("document", args=[document_id]) + (f"#chunk-{chunk_id}" if chunk_id else "")


def section_of(document_title: str, heading_path: str) -> str:
    """The heading path without a first heading that only repeats the document's title."""
    headings = heading_path.split(" > ") if heading_path else []
    if headings and headings[0].casefold() == document_title.casefold():
        headings = headings[1:]
    return " > ".join(headings)


@dataclass(frozen=True)
class ResolvedAnswer:
    text: str
    cited: dict[int, Passage]
    dropped_markers: int


def resolve_citations(answer: str, passages: list[Passage]) -> ResolvedAnswer:
    dropped = 0

    def keep_valid(match: re.Match[str]) -> str:
        nonlocal dropped
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= len(passages)]
        dropped += len(numbers) - len(valid)
        return "".join(f"[{n}]" for n in dict.fromkeys(valid))

    text = MARKER.sub(keep_valid, answer)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text).strip()
    cited = {n: passages[n - 1] for n in sorted({int(m) for m in re.findall(r"\[(\d+)\]", text)})}
    return ResolvedAnswer(text=text, cited=cited, dropped_markers=dropped)
