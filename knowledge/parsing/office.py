"""Word, PowerPoint and Excel files through python-docx, python-pptx and openpyxl.

Archives are size-checked (`detect.open_office_zip`) before a library unpacks them.
"""

import io
import logging
import re

from knowledge.parsing.blocks import (
    Block,
    ParsedDocument,
    UnreadableDocument,
    heading,
    merge_list_items,
    paragraph,
    table_block,
)
from knowledge.parsing.detect import open_office_zip

logger = logging.getLogger(__name__)
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _damaged(kind: str, exc: Exception) -> UnreadableDocument:
    """The library's exception names nothing an administrator can act on; the worker log keeps it."""
    logger.info("Unreadable %s: %r", kind, exc)
    return UnreadableDocument(
        f"The {kind} is damaged and cannot be read; open it in its editor, save a new copy and upload that."
    )


def parse_docx(data: bytes) -> ParsedDocument:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    open_office_zip(data)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[Block | None] = []
        for element in document.element.body.iterchildren():
            if element.tag.endswith("}p"):
                blocks.append(_docx_paragraph(Paragraph(element, document)))
            elif element.tag.endswith("}tbl"):
                table = Table(element, document)
                blocks.append(table_block([_unique_cells(row.cells) for row in table.rows]))
        title = document.core_properties.title or ""
    except UnreadableDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - python-docx raises many types on damaged files
        raise _damaged("Word document", exc) from None
    kept = merge_list_items([b for b in blocks if b])
    if not title.strip() and kept and kept[0].kind == "heading" and kept[0].level == 1:
        title = kept[0].text
    return ParsedDocument(blocks=kept, title=" ".join(title.split())[:300])


def _docx_paragraph(para) -> Block | None:
    style = (para.style.name if para.style is not None else "") or ""
    if style.lower() == "title":
        return heading(para.text, 1)
    match = _HEADING_STYLE.match(style)
    if match:
        return heading(para.text, int(match.group(1)))
    numbered = para._p.pPr is not None and para._p.pPr.numPr is not None
    if style.lower().startswith("list") or numbered:  # a list style, or Word's numbering on any style
        return paragraph("- " + para.text) if para.text.strip() else None
    return paragraph(para.text)


def _unique_cells(cells) -> list[str]:
    """A merged cell is returned once per grid column it spans; keep it once."""
    seen: list = []
    texts = []
    for cell in cells:
        if any(cell._tc is other for other in seen):
            continue
        seen.append(cell._tc)
        texts.append(cell.text)
    return texts


def parse_pptx(data: bytes) -> ParsedDocument:
    """Each slide is a page headed by its title; its text boxes, tables and notes follow."""
    import pptx

    open_office_zip(data)
    try:
        presentation = pptx.Presentation(io.BytesIO(data))
        blocks: list[Block | None] = []
        slides = list(presentation.slides)
        for number, slide in enumerate(slides, start=1):
            title_shape = slide.shapes.title
            title = title_shape.text_frame.text if title_shape is not None and title_shape.has_text_frame else ""
            blocks.append(heading(title or f"Slide {number}", 1, page=number))
            for shape in slide.shapes:
                if title_shape is not None and shape.shape_id == title_shape.shape_id:
                    continue
                if shape.has_text_frame:
                    blocks.append(paragraph(shape.text_frame.text, page=number))
                elif getattr(shape, "has_table", False) and shape.has_table:
                    rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
                    blocks.append(table_block(rows, page=number))
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = slide.notes_slide.notes_text_frame.text
                blocks.append(paragraph(f"Notes: {notes}", page=number) if notes.strip() else None)
    except UnreadableDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - python-pptx raises many types on damaged files
        raise _damaged("PowerPoint file", exc) from None
    return ParsedDocument(blocks=[b for b in blocks if b], page_count=len(slides))


def parse_xlsx(data: bytes, max_rows: int) -> ParsedDocument:
    """Each sheet is a section named after it; its first non-empty row is the header."""
    import openpyxl

    open_office_zip(data)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        blocks: list[Block | None] = []
        for sheet in workbook.worksheets:
            rows = []
            for values in sheet.iter_rows(values_only=True):
                if any(value is not None for value in values):
                    rows.append(["" if value is None else str(value) for value in values])
                if len(rows) > max_rows:
                    raise UnreadableDocument(f"The sheet '{sheet.title}' has more than {max_rows} rows.")
            table = table_block(rows)
            if table:
                blocks.extend([heading(sheet.title, 1), table])
        workbook.close()
    except UnreadableDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types on damaged files
        raise _damaged("Excel workbook", exc) from None
    return ParsedDocument(blocks=[b for b in blocks if b])
