"""Markdown (markdown-it-py), plain text and CSV."""

import csv
import io
import re
import unicodedata

from markdown_it import MarkdownIt
from markdown_it.token import Token

from knowledge.parsing.blocks import Block, UnreadableDocument, heading, paragraph, table_block


def decode_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(
            f"The text is not UTF-8 (undecodable byte at position {exc.start}); save it as UTF-8 and upload again."
        ) from None
    return unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")


def plain_blocks(text: str, page: int | None = None) -> list[Block]:
    return [b for p in re.split(r"\n\s*\n", text) if (b := paragraph(p, page))]


def markdown_blocks(text: str) -> list[Block]:
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    blocks: list[Block | None] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "heading_open":
            blocks.append(heading(_inline_text(tokens[index + 1]), int(token.tag[1:])))
            index += 3
        elif token.type in {"bullet_list_open", "ordered_list_open"}:
            end = _closing(tokens, index)
            blocks.append(paragraph(_list_text(tokens[index:end])))
            index = end + 1
        elif token.type == "table_open":
            end = _closing(tokens, index)
            blocks.append(table_block(_table_rows(tokens[index:end])))
            index = end + 1
        elif token.type == "inline":
            blocks.append(paragraph(_inline_text(token)))
            index += 1
        elif token.type in {"fence", "code_block", "html_block"}:
            blocks.append(paragraph(token.content))
            index += 1
        else:
            index += 1
    return [b for b in blocks if b]


def _closing(tokens: list[Token], start: int) -> int:
    depth = 0
    for position in range(start, len(tokens)):
        depth += tokens[position].nesting
        if depth == 0:
            return position
    return len(tokens) - 1


def _inline_text(token: Token) -> str:
    parts = []
    for child in token.children or []:
        if child.type in {"text", "code_inline", "html_inline"}:
            parts.append(child.content)
        elif child.type in {"softbreak", "hardbreak"}:
            parts.append("\n")
    return "".join(parts)


def _list_text(tokens: list[Token]) -> str:
    lines = []
    depth = 0
    for token in tokens:
        if token.type in {"bullet_list_open", "ordered_list_open"}:
            depth += 1
        elif token.type in {"bullet_list_close", "ordered_list_close"}:
            depth -= 1
        elif token.type == "inline":
            lines.append("  " * (depth - 1) + "- " + _inline_text(token).replace("\n", " "))
    return "\n".join(lines)


def _table_rows(tokens: list[Token]) -> list[list[str]]:
    rows: list[list[str]] = []
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append(_inline_text(token))
    return rows


def csv_blocks(text: str, max_rows: int) -> list[Block]:
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = []
    try:
        for row in csv.reader(io.StringIO(text), dialect):
            rows.append(row)
            if len(rows) > max_rows:
                raise UnreadableDocument(f"The table has more than {max_rows} rows; split it into smaller files.")
    except csv.Error as exc:
        raise UnreadableDocument(f"The CSV file is malformed ({exc}).") from None
    block = table_block(rows)
    return [block] if block else []
