"""Real Office files for tests, written with the same libraries that read them."""

import io
import zipfile


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Travel policy", level=1)
    document.add_paragraph("Book trains through TripDesk.")
    document.add_heading("Hotels", level=2)
    document.add_paragraph("The nightly limit is 150 EUR.")
    table = document.add_table(rows=3, cols=2)
    for row, values in zip(table.rows, [("City", "Limit"), ("Paris", "220 EUR"), ("Lyon", "150 EUR")], strict=True):
        row.cells[0].text, row.cells[1].text = values
    document.add_paragraph("First item", style="List Bullet")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def pptx_bytes() -> bytes:
    import pptx
    from pptx.util import Inches

    presentation = pptx.Presentation()
    first = presentation.slides.add_slide(presentation.slide_layouts[1])
    first.shapes.title.text = "Benefits overview"
    first.placeholders[1].text = "Pension contribution is 6%."
    first.notes_slide.notes_text_frame.text = "Mention the wellbeing allowance."
    second = presentation.slides.add_slide(presentation.slide_layouts[5])
    second.shapes.title.text = "Allowances"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    table.cell(0, 0).text, table.cell(0, 1).text = "Allowance", "Amount"
    table.cell(1, 0).text, table.cell(1, 1).text = "Wellbeing", "400 EUR"
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def xlsx_bytes(rows: list[tuple] | None = None) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Balances"
    for row in rows or [("Employee", "Days left"), ("alice", 12), (None, None), ("bob", 7.5)]:
        sheet.append(row)
    workbook.create_sheet("Empty")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def zip_bomb_docx(expanded_bytes: int) -> bytes:
    """A ZIP that looks like a Word file and unpacks to `expanded_bytes` of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/media/zeros.bin", b"\0" * expanded_bytes)
    return buffer.getvalue()
