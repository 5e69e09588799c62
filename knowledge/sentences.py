"""Sentences of a passage or an answer: what is cited, checked, compared and trimmed, one sentence at a time.

A sentence ends at ., ! or ? followed by a space, or at the end of a line, so "12.5%",
"1,000.50 EUR" and "2026-06-30" stay inside their sentence.
"""

import re

SENTENCE = re.compile(r"[^\n]+?(?:[.!?]+(?=\s|$)|(?=\n)|$)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-blank sentence or line, trailing spaces excluded."""
    spans = []
    for match in SENTENCE.finditer(text):
        sentence = match.group()
        if sentence.strip():
            start = match.start() + len(sentence) - len(sentence.lstrip())
            spans.append((start, match.start() + len(sentence.rstrip())))
    return spans


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]
