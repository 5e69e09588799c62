"""Markers like [1], [2][3] or [1, 3] in an answer, mapped to the passages the model was given.

A marker naming no given passage is removed from the text and counted, never shown.
Small models often write no marker at all; a sentence without one is attributed to the
given passage most similar to it, when that similarity clears a threshold.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from knowledge.retrieval import Passage
from knowledge.sentences import SENTENCE

MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
ATTRIBUTION_THRESHOLD = 0.5


def passage_url(document_id: int, chunk_id: int | None) -> str:
    """The document view, scrolled to the passage (the view re-checks the reader's rights)."""
    return f"/documents/{document_id}/" + (f"#chunk-{chunk_id}" if chunk_id else "")


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


def resolve_citations(
    answer: str,
    passages: list[Passage],
    *,
    encode: Callable[[list[str]], np.ndarray] | None = None,
) -> ResolvedAnswer:
    dropped = 0

    def keep_valid(match: re.Match[str]) -> str:
        nonlocal dropped
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= len(passages)]
        dropped += len(numbers) - len(valid)
        return "".join(f"[{n}]" for n in dict.fromkeys(valid))

    text = MARKER.sub(keep_valid, answer)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text).strip()
    if encode is not None and passages and text:
        text = _attribute_unmarked(text, passages, encode)
    cited = {n: passages[n - 1] for n in sorted({int(m) for m in re.findall(r"\[(\d+)\]", text)})}
    return ResolvedAnswer(text=text, cited=cited, dropped_markers=dropped)


def _attribute_unmarked(text: str, passages: list[Passage], encode) -> str:
    sentences = [m for m in SENTENCE.finditer(text) if m.group().strip() and not MARKER.search(m.group())]
    if not sentences:
        return text
    passage_vectors = encode([p.text for p in passages])
    sentence_vectors = encode([m.group().strip() for m in sentences])
    similarity = sentence_vectors @ passage_vectors.T
    pieces: list[str] = []
    cursor = 0
    for match, scores in zip(sentences, similarity, strict=True):
        best = int(np.argmax(scores))
        if scores[best] < ATTRIBUTION_THRESHOLD:
            continue
        sentence = match.group().rstrip()
        end = match.start() + len(sentence)
        body = sentence.rstrip(".!?")
        insert_at = match.start() + len(body)
        pieces.append(text[cursor:insert_at])
        pieces.append(f" [{best + 1}]")
        pieces.append(text[insert_at:end])
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)
