"""File bytes -> ordered blocks (headings and text) with page numbers where the format has pages.

Every way a file can be unusable ends in `UnreadableDocument` with a sentence an
administrator can act on; the ingestion task stores that sentence on the document.
"""

import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

TEXT_EXTENSIONS = {".md": "markdown", ".markdown": "markdown", ".txt": "text"}
PDF_EXTENSIONS = {".pdf"}
SUPPORTED_DESCRIPTION = "Markdown (.md), plain text (.txt) or PDF (.pdf)"

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_MD_FENCE = re.compile(r"^(```|~~~)")


class UnreadableDocument(Exception):
    """The file cannot be turned into text; the message is shown to administrators."""


@dataclass(frozen=True)
class Block:
    kind: Literal["heading", "text"]
    text: str
    level: int = 0
    page: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    blocks: list[Block]
    page_count: int | None = None


def parse_document(filename: str, data: bytes) -> ParsedDocument:
    """Parse by extension, after checking that the content really is of that kind."""
    if not data:
        raise UnreadableDocument("The file is empty.")
    extension = PurePath(filename).suffix.lower()
    looks_like_pdf = data.lstrip()[:5] == b"%PDF-"
    if extension in PDF_EXTENSIONS:
        if not looks_like_pdf:
            raise UnreadableDocument("The file is named .pdf but its content is not a PDF.")
        return _parse_pdf(data)
    if extension in TEXT_EXTENSIONS:
        if looks_like_pdf or b"\x00" in data[:8192]:
            raise UnreadableDocument(f"The file is named {extension} but its content is binary, not text.")
        text = _decode_text(data)
        if TEXT_EXTENSIONS[extension] == "markdown":
            return ParsedDocument(blocks=_markdown_blocks(text))
        return ParsedDocument(blocks=_plain_blocks(text))
    shown = extension or "without an extension"
    raise UnreadableDocument(f"Unsupported file type ({shown}). Upload {SUPPORTED_DESCRIPTION}.")


def _decode_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(
            f"The text is not UTF-8 (undecodable byte at position {exc.start}); save it as UTF-8 and upload again."
        ) from None
    return unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _plain_blocks(text: str, page: int | None = None) -> list[Block]:
    return [Block(kind="text", text=p, page=page) for p in _paragraphs(text)]


def _markdown_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    buffer: list[str] = []
    in_fence = False

    def flush() -> None:
        if buffer:
            paragraph = "\n".join(buffer).strip()
            if paragraph:
                blocks.append(Block(kind="text", text=paragraph))
            buffer.clear()

    for line in text.split("\n"):
        if _MD_FENCE.match(line.strip()):
            in_fence = not in_fence
            buffer.append(line)
            continue
        heading = None if in_fence else _MD_HEADING.match(line)
        if heading:
            flush()
            blocks.append(Block(kind="heading", text=heading.group(2).strip(), level=len(heading.group(1))))
        elif not line.strip() and not in_fence:
            flush()
        else:
            buffer.append(line.rstrip())
    flush()
    return blocks


def _parse_pdf(data: bytes) -> ParsedDocument:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument("The PDF is password-protected; upload a copy without a password.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many exception types on damaged files
        raise UnreadableDocument(f"The PDF is damaged and cannot be read ({type(exc).__name__}).") from None
    blocks: list[Block] = []
    for number, raw in enumerate(pages, start=1):
        text = unicodedata.normalize("NFKC", raw)
        blocks.extend(_pdf_page_blocks(text, number))
    if not blocks:
        raise UnreadableDocument(
            "The PDF has no extractable text (it may be a scan); upload a version with a text layer."
        )
    return ParsedDocument(blocks=blocks, page_count=len(pages))


def _pdf_page_blocks(text: str, page: int) -> list[Block]:
    """pypdf breaks every line; rejoin lines into paragraphs at blank lines or sentence ends."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(stripped)
        if stripped.endswith((".", ":", "?", "!")) and len(stripped) < 60:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return [Block(kind="text", text=p, page=page) for p in paragraphs if p]
