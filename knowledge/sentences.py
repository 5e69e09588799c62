"""Sentences of a passage or an answer: what is cited, checked, compared and trimmed, one sentence at a time.

The one owner of where a sentence ends, used by the chunker, the extractive answers, the
gate, the support check and the highlighter. Within a line, sentencex (a maintained
rule-based segmenter with character offsets) decides, so "e.g.", "U.S.", "12.5%",
"1,000.50 EUR" and "2026-06-30" stay inside their sentence; a few abbreviations it splits
before a number ("approx. 40", "Sec. 3") are joined back. A line break always ends a
sentence: the parsers keep one only between list items, table rows and hard line breaks,
since a line break inside a paragraph is a space (knowledge/parsing).
"""

import functools
import re

import sentencex

# Abbreviations sentencex ends a sentence after when a number or a lower-case word follows.
_ABBREVIATION = re.compile(
    r"(?:^|\s)\(?(?:approx|appr|ca|vol|no|nos|nr|sec|secs|art|arts|para|paras|ch|chap|fig|p|pp|ref|incl|excl|"
    r"max|min|est|dept|cf|vs|viz|ed|eds|rev|tel|ext)\.\s*$",
    re.IGNORECASE,
)
_CONTINUES = re.compile(r"\s*[\d(a-z§€$£%]")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-blank sentence or line, spaces at either end excluded."""
    return list(_spans(text))


@functools.lru_cache(maxsize=8192)
def _spans(text: str) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        if line.strip():
            pieces: list[list[int]] = []
            for boundary in sentencex.get_sentence_boundaries("en", line):
                start, end = boundary["start_index"], boundary["end_index"]
                if (
                    pieces
                    and _ABBREVIATION.search(line[pieces[-1][0] : pieces[-1][1]])
                    and _CONTINUES.match(line, start)
                ):
                    pieces[-1][1] = end
                else:
                    pieces.append([start, end])
            for start, end in pieces:
                piece = line[start:end]
                if piece.strip():
                    lead = len(piece) - len(piece.lstrip())
                    spans.append((offset + start + lead, offset + start + len(piece.rstrip())))
        offset += len(line) + 1
    return tuple(spans)


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]
