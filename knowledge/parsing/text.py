"""Markdown (markdown-it-py), plain text and CSV.

Text as people keep it is hard-wrapped: a line break inside a paragraph is a space
(CommonMark's soft break), so a sentence is never cut at the end of a line.
"""

import csv
import io
import re
import unicodedata

from markdown_it import MarkdownIt
from markdown_it.token import Token

from knowledge.parsing.blocks import (
    LIST_ITEM,
    Block,
    ParsedDocument,
    UnreadableDocument,
    heading,
    looks_like_heading,
    paragraph,
    table_block,
)
from knowledge.parsing.front_matter import split_front_matter, title_of


def decode_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(
            f"The text is not UTF-8 (undecodable byte at position {exc.start}); save it as UTF-8 and upload again."
        ) from None
    return unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")


# A line that starts a line of its own in plain text: a list item, a table row, a heading.
_BULLET = re.compile(r"^[*•+▪◦‣]\s+")  # written as Markdown's renderer writes a list item
_TABLE_ROW = re.compile(r"\||\t|\S {3,}\S")
_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SETEXT_UNDERLINE = re.compile(r"^\s*(?:={3,}|-{3,})\s*$")


def plain_blocks(text: str, page: int | None = None) -> list[Block]:
    """A paragraph is the text between blank lines; its lines join with a space unless a line is a
    list item, a table row or a heading ("# Leave", or a short line alone without an end stop)."""
    blocks: list[Block | None] = []
    for raw in re.split(r"\n\s*\n", text):
        lines = [line.rstrip() for line in raw.split("\n") if line.strip()]
        if len(lines) == 2 and _SETEXT_UNDERLINE.match(lines[1]):
            blocks.append(heading(lines[0], 1 if "=" in lines[1] else 2, page))
            continue
        if len(lines) == 1 and looks_like_heading(lines[0]):
            blocks.append(heading(lines[0], 2, page))
            continue
        units: list[str] = []
        for line in lines:
            if match := _MARKDOWN_HEADING.match(line):
                blocks.append(paragraph("\n".join(units), page))
                blocks.append(heading(match.group(2), len(match.group(1)), page))
                units = []
            elif not units or LIST_ITEM.match(line) or _TABLE_ROW.search(line) or _TABLE_ROW.search(units[-1]):
                units.append(_BULLET.sub("- ", line.strip()))
            else:
                units[-1] += " " + line.strip()
        blocks.append(paragraph("\n".join(units), page))
    return [b for b in blocks if b]


# Liquid/Jinja tags and comments, output tags and Hugo shortcodes: the site's template, not the text.
_TEMPLATE = re.compile(r"{%-?\s*comment\s*-?%}.*?{%-?\s*endcomment\s*-?%}|{#.*?#}|{%.*?%}|{{.*?}}", re.DOTALL)
_TEMPLATE_LINE = re.compile(r"^[ \t]*(?:{%.*?%}|{{.*?}}|{#.*?#})[ \t]*\n", re.MULTILINE)


def without_templates(text: str) -> str:
    """A tag alone on its line goes with its line, so it leaves no paragraph break behind."""
    return _TEMPLATE.sub("", _TEMPLATE_LINE.sub("", text))


def parse_markdown(text: str) -> ParsedDocument:
    metadata, body = split_front_matter(text)
    return ParsedDocument(blocks=markdown_blocks(without_templates(body)), title=title_of(metadata), metadata=metadata)


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
        elif token.type in {"fence", "code_block"}:
            blocks.append(paragraph(token.content))
            index += 1
        elif token.type == "html_block":
            from knowledge.parsing.html import html_blocks

            blocks.extend(html_blocks(token.content))
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
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
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
