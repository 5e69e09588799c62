"""What every parser produces: ordered headings, text and tables, with pages where a format has them."""

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
