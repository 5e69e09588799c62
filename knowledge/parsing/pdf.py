"""PDF text layer with pypdf; every block keeps its page number."""

import io
import logging
import unicodedata

from knowledge.parsing.blocks import Block, ParsedDocument, UnreadableDocument, paragraph

logger = logging.getLogger(__name__)


def parse_pdf(data: bytes) -> ParsedDocument:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument("The PDF is password-protected; upload a copy without a password.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many exception types on damaged files
        logger.info("Unreadable PDF: %r", exc)
        raise UnreadableDocument(
            "The PDF is damaged and cannot be read; open it in a PDF reader, "
            "save or print it to a new PDF and upload that."
        ) from None
    blocks: list[Block] = []
    for number, raw in enumerate(pages, start=1):
        blocks.extend(_page_blocks(unicodedata.normalize("NFKC", raw), number))
    if not blocks:
        raise UnreadableDocument(
            "The PDF has no extractable text (it may be a scan); upload a version with a text layer."
        )
    return ParsedDocument(blocks=blocks, page_count=len(pages))


def _page_blocks(text: str, page: int) -> list[Block]:
    """pypdf breaks every line; rejoin lines into paragraphs at blank lines or short sentence ends."""
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
    return [b for p in paragraphs if (b := paragraph(p, page))]
