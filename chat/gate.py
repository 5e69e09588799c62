"""Nothing a language model writes is shown before it is checked, one sentence at a time.

The model's words are held until a sentence is complete. A sentence that says something is
shown only when a passage it cites (or, without a marker, the given passage most like it)
supports it (`chat.support.judge`), and a sentence stating a figure only when it cites a
passage that answers the question: "5 days of paid leave" from the fertility rule is true
there and wrong as the length of partner leave. One that fails is replaced by the best
answering sentence of the documents not shown yet, quoted and cited, or dropped when there is
none left. Connecting words ("Here is what the handbook says:") pass. The failed text is never
shown, stored or exported; only how many sentences were held back is kept.
"""

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from chat import figures
from chat.citations import MARKER
from chat.extraction import Evidence
from chat.support import flat, judge, says_something
from knowledge.retrieval import Passage
from knowledge.sentences import sentence_spans

# A sentence without a marker is attributed to the given passage most similar to it, from this cosine.
ATTRIBUTION_THRESHOLD = 0.5
# A sentence ends at . ! or ? followed by space (markers after the stop stay with it), or at a blank line.
_END = re.compile(r"[.!?](?:\s*\[\d+(?:\s*,\s*\d+)*\])*(?=\s)|\n\s*\n")


@dataclass
class GateReport:
    shown: int = 0
    replaced: int = 0
    dropped: int = 0
    quoted: set[str] = field(default_factory=set)  # evidence already shown, so never twice
    anchors: list[tuple[int, int, int]] = field(default_factory=list)  # (marker, start, end) the shown rest on

    def as_json(self) -> dict:
        return {"shown": self.shown, "replaced": self.replaced, "dropped": self.dropped}


def complete_sentences(buffer: str) -> tuple[list[str], str]:
    """The complete sentences at the start of `buffer`, and what is left to wait for."""
    sentences, start = [], 0
    for match in _END.finditer(buffer):
        if match.end() >= len(buffer):  # what follows the stop is not known yet
            break
        sentences.append(buffer[start : match.end()])
        start = match.end()
    return sentences, buffer[start:]


class Gate:
    """Checks one sentence of a model's answer against the passages it was given."""

    def __init__(
        self,
        passages: list[Passage],
        evidence: list[Evidence],
        *,
        encode: Callable[[list[str]], np.ndarray],
        parts: list[Evidence] | None = None,
    ) -> None:
        """`parts`: for a question of several parts, the sentence that answers each (chat.coverage)."""
        self.passages = passages
        self.evidence = evidence
        self.parts = parts or []
        self.encode = encode
        self.report = GateReport()

    def check(self, sentence: str) -> str:
        """What to show for `sentence`: itself, a quoted replacement, or ""."""
        text = _valid_markers(sentence, len(self.passages))
        plain = MARKER.sub(" ", text).strip()
        if not plain:
            return ""
        if not says_something(plain):
            return text
        markers = [int(n) for n in re.findall(r"\[(\d+)\]", text)]
        if not markers:
            marker = self._most_similar(plain)
            if marker is not None:
                markers = [marker]
                text = _with_marker(text, marker)
        answering = {e.marker for e in self.evidence}
        if figures.has_figure(plain) and answering and not answering & set(markers):
            return self._replacement()  # a figure from a passage that does not answer the question
        judgement = judge(plain, {m: self.passages[m - 1] for m in markers}, encode=self.encode) if markers else None
        if judgement is not None and judgement.supported:
            if _flat(plain) in self.report.quoted:
                return ""  # already shown, as a quote
            self.report.quoted.add(_flat(plain))
            if judgement.anchor is not None:
                self.report.anchors.append(judgement.anchor)
            self.report.shown += 1
            return text
        if not markers and not figures.has_figure(plain):
            self.report.dropped += 1  # says something no given passage is close to: nothing to quote for it
            return ""
        return self._replacement()

    def _most_similar(self, sentence: str) -> int | None:
        vectors = self.encode([sentence, *[p.text for p in self.passages]])
        scores = vectors[1:] @ vectors[0]
        best = int(np.argmax(scores))
        return best + 1 if scores[best] >= ATTRIBUTION_THRESHOLD else None

    def _replacement(self) -> str:
        """The best answering sentence not shown yet: what the model should have said."""
        for item in self.evidence:
            if _flat(item.text) not in self.report.quoted:
                self.report.quoted.add(_flat(item.text))
                self.report.replaced += 1
                body = item.text.rstrip()
                return f"“{body.rstrip('.!?')}” [{item.marker}]{body[len(body.rstrip('.!?')) :]}"
        self.report.dropped += 1
        return ""

    def remaining(self) -> list[str]:
        """When the model showed nothing that passed, the documents' own answer."""
        if self.report.shown or self.report.replaced:
            return []
        return [quote(e) for e in self.evidence if _flat(e.text) not in self.report.quoted]

    def uncovered(self) -> list[str]:
        """The parts of the question the model's shown sentences left out, in the documents' words: a
        part is covered by its sentence quoted, or by a shown sentence that rests on it."""

        def covered(item: Evidence) -> bool:
            return _flat(item.text) in self.report.quoted or any(
                marker == item.marker and start < item.end and end > item.start
                for marker, start, end in self.report.anchors
            )

        missing = [item for item in self.parts if not covered(item)]
        self.report.quoted.update(_flat(item.text) for item in missing)
        return [quote(item) for item in missing]


def quote(evidence: Evidence) -> str:
    """The quoted text with its marker before each sentence's closing stop (a quote may hold the
    sentence it leans on, or a list's items), so every sentence shown cites its passage."""
    text = evidence.text.rstrip()
    pieces, cursor = [], 0
    for start, end in sentence_spans(text):
        pieces.append(text[cursor:start])
        pieces.append(_with_marker(text[start:end], evidence.marker))
        cursor = end
    return "".join(pieces) + text[cursor:]


async def gated(pieces: AsyncIterator[str], check: Callable[[str], Awaitable[str]]) -> AsyncIterator[str]:
    """The model's stream cut into sentences, each one as the gate lets it through."""
    buffer = ""
    async for piece in pieces:
        buffer += piece
        sentences, buffer = complete_sentences(buffer)
        for sentence in sentences:
            if shown := await check(sentence):
                yield shown
    if buffer.strip() and (shown := await check(buffer)):
        yield shown


def _flat(text: str) -> str:
    """A shown sentence as compared with the quotes already shown: markers and the closing stop aside."""
    return flat(MARKER.sub(" ", text)).rstrip(".!?: ")


def _valid_markers(sentence: str, count: int) -> str:
    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
        return "".join(f"[{n}]" for n in dict.fromkeys(n for n in numbers if 1 <= n <= count))

    return MARKER.sub(keep, sentence)


def _with_marker(sentence: str, marker: int) -> str:
    body = sentence.rstrip()
    stripped = body.rstrip(".!?:")
    return f"{stripped} [{marker}]{body[len(stripped) :]}{sentence[len(body) :]}"
