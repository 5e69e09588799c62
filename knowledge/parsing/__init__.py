"""File bytes -> ordered blocks (headings, text, tables) with page numbers where the format has pages.

Every way a file can be unusable ends in `UnreadableDocument` with a sentence an
administrator can act on; the ingestion task stores that sentence on the document.
"""

from django.conf import settings

from knowledge.parsing.blocks import Block, ParsedDocument, UnreadableDocument
from knowledge.parsing.detect import SUPPORTED_DESCRIPTION, detect_kind

__all__ = ["Block", "ParsedDocument", "UnreadableDocument", "SUPPORTED_DESCRIPTION", "parse_document"]


def parse_document(filename: str, data: bytes) -> ParsedDocument:
    kind = detect_kind(filename, data)
    if kind == "pdf":
        from knowledge.parsing.pdf import parse_pdf

        return parse_pdf(data)
    if kind in {"docx", "pptx", "xlsx"}:
        from knowledge.parsing import office

        if kind == "xlsx":
            return office.parse_xlsx(data, settings.MAX_TABLE_ROWS)
        return office.parse_docx(data) if kind == "docx" else office.parse_pptx(data)
    from knowledge.parsing import text

    decoded = text.decode_text(data)
    if kind == "markdown":
        return text.parse_markdown(decoded)
    if kind == "csv":
        return ParsedDocument(blocks=text.csv_blocks(decoded, settings.MAX_TABLE_ROWS))
    if kind == "html":
        from knowledge.parsing.html import parse_html

        return parse_html(decoded)
    return ParsedDocument(blocks=text.plain_blocks(decoded))
