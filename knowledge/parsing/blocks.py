"""What every parser produces: ordered headings, text and tables, with pages where a format has them."""

import re
from dataclasses import dataclass, field
from typing import Literal

CELL_SEPARATOR = " | "


class UnreadableDocument(Exception):
    """The file cannot be turned into text; the message is shown to administrators."""


@dataclass(frozen=True)
class Block:
    kind: Literal["heading", "text", "table"]
    text: str
    level: int = 0
    page: int | None = None
    rows: tuple[tuple[str, ...], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class ParsedDocument:
    blocks: list[Block]
    page_count: int | None = None
    title: str = ""  # the document's own title (front matter, core properties, <title>), if it has one
    metadata: dict = field(default_factory=dict, compare=False)  # front matter: kept, never a passage


def table_block(rows: list[list[str]], page: int | None = None) -> Block | None:
    """The first row is the header; empty rows are dropped, ragged rows padded."""
    cleaned = [tuple(" ".join(cell.split()) for cell in row) for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return None
    width = max(len(row) for row in cleaned)
    padded = tuple(row + ("",) * (width - len(row)) for row in cleaned)
    return Block(kind="table", text=render_rows(padded), page=page, rows=padded)


def render_row(row: tuple[str, ...]) -> str:
    return CELL_SEPARATOR.join(row).strip()


def render_rows(rows: tuple[tuple[str, ...], ...]) -> str:
    return "\n".join(render_row(row) for row in rows)


def heading(text: str, level: int, page: int | None = None) -> Block | None:
    text = " ".join(text.split())
    return Block(kind="heading", text=text, level=max(1, min(level, 6)), page=page) if text else None


def paragraph(text: str, page: int | None = None) -> Block | None:
    text = text.strip()
    return Block(kind="text", text=text, page=page) if text else None


HEADING_LINE_MAX_CHARS = 80
LIST_ITEM = re.compile(r"^\s*(?:[-*•+▪◦‣]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)]|\([ivxIVX]{1,4}\))\s+\S")

_LABELLED = re.compile(r"^[^:]{1,40}:\s+\S")  # "Last updated: 2018-01-08" is a field, not a section


def looks_like_heading(line: str) -> bool:
    """A short line of its own, capitalised, not a list item, that ends no sentence or clause: in
    formats without heading marks (plain text, PDF) this is how a section is named."""
    stripped = line.strip()
    return (
        0 < len(stripped) <= HEADING_LINE_MAX_CHARS
        and not stripped.endswith((".", ",", ";", "!", "?", ":"))
        and not LIST_ITEM.match(stripped)
        and not _LABELLED.match(stripped)
        and stripped[:1].isupper()
    )


def merge_list_items(blocks: list[Block]) -> list[Block]:
    """Word and HTML give each list item a paragraph of its own; Markdown's list is one block, its
    items a line each. The same list reads the same in every format: one block."""
    merged: list[Block] = []
    for block in blocks:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and block.kind == previous.kind == "text"
            and block.page == previous.page
            and block.text.startswith("- ")
            and previous.text.split("\n")[-1].startswith("- ")
        ):
            merged[-1] = Block(kind="text", text=f"{previous.text}\n{block.text}", page=block.page)
        else:
            merged.append(block)
    return merged
