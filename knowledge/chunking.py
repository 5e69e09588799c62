"""Blocks -> token-bounded chunks that keep their heading path, page and character span.

Chunks never cross a heading or a page, so a citation names one section and one page.
Token counts come from the embedding model's own tokenizer: a chunk over its limit would
be silently truncated when embedded. A chunk's text is `parsed_text[char_start:char_end]`,
except a piece of a table too long for one chunk, which starts with the table's header row.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from knowledge.parsing import Block
from knowledge.sentences import sentence_spans

BLOCK_SEPARATOR = "\n\n"
HEADING_SEPARATOR = " > "
HEADING_MAX_CHARS = 200  # a longer "heading" is a paragraph styled as one: kept as text
HEADING_PATH_MAX_CHARS = 1000  # Chunk.heading_path
ELIDED = "…"


@dataclass(frozen=True)
class ChunkSpec:
    text: str
    heading_path: str
    page: int | None
    char_start: int
    char_end: int
    token_count: int

    @property
    def embedding_text(self) -> str:
        return embedding_text(self.heading_path, self.text)


def embedding_text(heading_path: str, text: str) -> str:
    """The heading path is embedded with the passage: it often names what the passage is about."""
    return f"{heading_path}\n{text}" if heading_path else text


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    prefix: str = ""  # a split table's header row, repeated on each piece


@dataclass(frozen=True)
class ChunkedDocument:
    parsed_text: str
    chunks: list[ChunkSpec]


def chunk_blocks(
    blocks: list[Block],
    *,
    max_tokens: int,
    overlap_tokens: int,
    count_tokens: Callable[[str], int],
) -> ChunkedDocument:
    parsed_text, spans = _layout(blocks)
    chunks: list[ChunkSpec] = []
    headings: list[str] = []
    section: list[tuple[Block, int, int]] = []

    def flush() -> None:
        heading_path = _heading_path(headings, max_tokens // 2, count_tokens)
        budget = max_tokens - (count_tokens(heading_path + "\n") if heading_path else 0)
        for page, units in _group_by_page(section, parsed_text, budget, count_tokens):
            for start, end, prefix in _pack(units, budget, overlap_tokens):
                text = prefix + parsed_text[start:end]
                chunks.append(
                    ChunkSpec(
                        text=text,
                        heading_path=heading_path,
                        page=page,
                        char_start=start,
                        char_end=end,
                        token_count=count_tokens(embedding_text(heading_path, text)),
                    )
                )
        section.clear()

    for block, (start, end) in zip(blocks, spans, strict=True):
        if block.kind == "heading" and _is_heading(block.text, max_tokens, count_tokens):
            flush()
            level = max(block.level, 1)
            headings[:] = headings[: level - 1] + [block.text]
        else:
            section.append((block, start, end))
    flush()
    return ChunkedDocument(parsed_text=parsed_text, chunks=chunks)


def _is_heading(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> bool:
    return len(text) <= HEADING_MAX_CHARS and count_tokens(text) <= max_tokens // 4


def _heading_path(headings: list[str], max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The whole path when it fits, else the innermost headings after "…": the path is embedded
    with every chunk of its section and must leave room for the passage."""
    path = HEADING_SEPARATOR.join(headings)
    kept = len(headings)
    while kept and (len(path) > HEADING_PATH_MAX_CHARS or count_tokens(path) > max_tokens):
        kept -= 1
        path = HEADING_SEPARATOR.join([ELIDED, *headings[len(headings) - kept :]])
    return path


def _layout(blocks: list[Block]) -> tuple[str, list[tuple[int, int]]]:
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    for block in blocks:
        if parts:
            position += len(BLOCK_SEPARATOR)
        spans.append((position, position + len(block.text)))
        parts.append(block.text)
        position += len(block.text)
    return BLOCK_SEPARATOR.join(parts), spans


def _group_by_page(
    section: list[tuple[Block, int, int]],
    parsed_text: str,
    budget: int,
    count_tokens: Callable[[str], int],
) -> Iterator[tuple[int | None, list[_Unit]]]:
    page: int | None = None
    units: list[_Unit] = []
    for block, start, end in section:
        if units and block.page != page:
            yield page, units
            units = []
        page = block.page
        if block.kind == "table":
            units.extend(_table_units(parsed_text, start, end, budget, count_tokens))
        else:
            units.extend(_units(parsed_text, start, end, budget, count_tokens))
    if units:
        yield page, units


def _units(text: str, start: int, end: int, budget: int, count_tokens: Callable[[str], int]) -> list[_Unit]:
    """A block that fits is one unit; a longer one splits into sentences, then words."""
    tokens = count_tokens(text[start:end])
    if tokens <= budget:
        return [_Unit(start, end, tokens)]
    units: list[_Unit] = []
    for s_start, s_end in ((start + a, start + b) for a, b in sentence_spans(text[start:end])):
        s_tokens = count_tokens(text[s_start:s_end])
        if s_tokens <= budget:
            units.append(_Unit(s_start, s_end, s_tokens))
        else:
            units.extend(_word_windows(text, s_start, s_end, budget, count_tokens))
    return units


def _table_units(text: str, start: int, end: int, budget: int, count_tokens: Callable[[str], int]) -> list[_Unit]:
    """A table that fits stays whole; a longer one is cut between rows, each piece under the header."""
    tokens = count_tokens(text[start:end])
    if tokens <= budget:
        return [_Unit(start, end, tokens)]
    rows = _split(text, start, end, re.compile(r"\n"))
    header = text[rows[0][0] : rows[0][1]] + "\n"
    row_budget = max(budget - count_tokens(header), 8)
    pieces: list[_Unit] = []
    group: list[tuple[int, int]] = []
    for row in rows[1:] or rows:
        candidate = group + [row]
        if group and count_tokens(text[candidate[0][0] : candidate[-1][1]]) > row_budget:
            pieces.extend(_table_piece(text, group, header, row_budget, count_tokens))
            candidate = [row]
        group = candidate
    pieces.extend(_table_piece(text, group, header, row_budget, count_tokens))
    return pieces


def _table_piece(text, group, header, row_budget, count_tokens) -> list[_Unit]:
    start, end = group[0][0], group[-1][1]
    tokens = count_tokens(text[start:end])
    if tokens <= row_budget:
        return [_Unit(start, end, tokens + count_tokens(header), prefix=header)]
    windows = _word_windows(text, start, end, row_budget, count_tokens)  # one row longer than a chunk
    return [_Unit(w.start, w.end, w.tokens + count_tokens(header), prefix=header) for w in windows]


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    cursor = start
    for match in pattern.finditer(text, start, end):
        if match.start() > cursor:
            pieces.append((cursor, match.start()))
        cursor = match.end()
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def _word_windows(text: str, start: int, end: int, budget: int, count_tokens: Callable[[str], int]) -> list[_Unit]:
    words = _split(text, start, end, re.compile(r"\s+"))
    units: list[_Unit] = []
    current: list[tuple[int, int]] = []
    for word in words:
        candidate = current + [word]
        if current and count_tokens(text[candidate[0][0] : candidate[-1][1]]) > budget:
            units.append(_Unit(current[0][0], current[-1][1], count_tokens(text[current[0][0] : current[-1][1]])))
            candidate = [word]
        current = candidate
    if current:
        piece_end = current[-1][1]
        tokens = count_tokens(text[current[0][0] : piece_end])
        if tokens > budget:  # a single "word" longer than the budget: cut it by characters
            return units + _char_windows(text, current[0][0], piece_end, budget, count_tokens)
        units.append(_Unit(current[0][0], piece_end, tokens))
    return units


def _char_windows(text: str, start: int, end: int, budget: int, count_tokens: Callable[[str], int]) -> list[_Unit]:
    units: list[_Unit] = []
    cursor = start
    while cursor < end:
        stop = min(end, cursor + budget)
        while stop > cursor + 1 and count_tokens(text[cursor:stop]) > budget:
            stop = cursor + (stop - cursor) // 2
        units.append(_Unit(cursor, stop, count_tokens(text[cursor:stop])))
        cursor = stop
    return units


def _pack(units: list[_Unit], budget: int, overlap_tokens: int) -> Iterator[tuple[int, int, str]]:
    """Greedy packing; a new chunk repeats the previous chunk's last units up to the overlap.

    A piece of a split table is a chunk of its own.
    """
    current: list[_Unit] = []
    emitted_end = -1
    for unit in units:
        if unit.prefix:
            if current and current[-1].end > emitted_end:
                yield current[0].start, current[-1].end, ""
            yield unit.start, unit.end, unit.prefix
            current, emitted_end = [], unit.end
            continue
        if current and sum(u.tokens for u in current) + unit.tokens > budget:
            yield current[0].start, current[-1].end, ""
            emitted_end = current[-1].end
            carried: list[_Unit] = []
            for previous in reversed(current):
                if sum(u.tokens for u in carried) + previous.tokens + unit.tokens > min(
                    overlap_tokens + unit.tokens, budget
                ):
                    break
                carried.insert(0, previous)
            current = carried
        current.append(unit)
    if current and current[-1].end > emitted_end:
        yield current[0].start, current[-1].end, ""
