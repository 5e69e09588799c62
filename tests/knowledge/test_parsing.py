import re
from pathlib import Path

import pytest

from knowledge.parsing import UnreadableDocument, parse_document
from tests.office_files import docx_bytes, pptx_bytes, xlsx_bytes, zip_bomb_docx
from tests.pdfs import encrypted_pdf, pdf_with_pages

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "hr-sample" / "opengov-hr-manual"


def test_markdown_headings_and_paragraphs_become_blocks():
    parsed = parse_document("leave.md", b"# Leave\n\nIntro text.\n\n## Annual\n\nYou get 25 days.\nSecond line.\n")
    assert [(b.kind, b.level, b.text) for b in parsed.blocks] == [
        ("heading", 1, "Leave"),
        ("text", 0, "Intro text."),
        ("heading", 2, "Annual"),
        ("text", 0, "You get 25 days. Second line."),
    ]


def test_markdown_heading_inside_code_fence_is_text():
    parsed = parse_document("a.md", b"```\n# not a heading\n```\n")
    assert [b.kind for b in parsed.blocks] == ["text"]


def test_plain_text_splits_on_blank_lines_and_drops_bom():
    parsed = parse_document("notes.txt", "\ufeffFirst paragraph.\r\n\r\nSecond.".encode())
    assert [b.text for b in parsed.blocks] == ["First paragraph.", "Second."]


def test_pdf_pages_are_numbered():
    parsed = parse_document("p.pdf", pdf_with_pages(["Leave policy.", "Expenses are paid monthly."]))
    assert parsed.page_count == 2
    assert [(b.page, b.text) for b in parsed.blocks] == [(1, "Leave policy."), (2, "Expenses are paid monthly.")]


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared sample data not present")
def test_real_pdf_ligatures_are_normalised():
    parsed = parse_document("manual.pdf", (SAMPLE / "manual.pdf").read_bytes())
    text = " ".join(b.text for b in parsed.blocks)
    assert parsed.page_count and parsed.page_count > 1
    assert "benefits" in text and "\ufb01" not in text


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.md", b"", "empty"),
        ("tool.exe", b"MZ\x90\x00", "Unsupported file type (.exe)"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Unsupported file type (.doc)"),
        ("renamed.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "legacy Office file"),
        ("page.html", b"just words", "does not start with HTML markup"),
        ("noext", b"hello", "Unsupported file type (without an extension)"),
        ("fake.pdf", b"just text, not a pdf", "named .pdf but its content is text"),
        ("corrupt.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "damaged"),
        ("binary.txt", b"abc\x00\x01\x02def", "binary"),
        ("pdf-named.md", pdf_with_pages(["x"]), "named .md but its content is a PDF"),
        ("latin1.txt", "Café crème".encode("latin-1"), "not UTF-8"),
        ("scan.pdf", pdf_with_pages([""]), "no extractable text"),
        ("locked.pdf", encrypted_pdf("Salaries"), "password-protected"),
    ],
)
def test_unusable_files_raise_a_readable_reason(name, data, reason):
    with pytest.raises(UnreadableDocument, match=re.escape(reason)):
        parse_document(name, data)


def kinds(parsed):
    return [(b.kind, b.level, b.page, b.text) for b in parsed.blocks]


def test_docx_headings_come_from_styles_and_tables_keep_rows():
    parsed = parse_document("travel.docx", docx_bytes())
    assert kinds(parsed) == [
        ("heading", 1, None, "Travel policy"),
        ("text", 0, None, "Book trains through TripDesk."),
        ("heading", 2, None, "Hotels"),
        ("text", 0, None, "The nightly limit is 150 EUR."),
        ("table", 0, None, "City | Limit\nParis | 220 EUR\nLyon | 150 EUR"),
        ("text", 0, None, "- First item"),
    ]


def test_pptx_slides_are_pages_with_titles_tables_and_notes():
    parsed = parse_document("deck.pptx", pptx_bytes())
    assert parsed.page_count == 2
    assert kinds(parsed) == [
        ("heading", 1, 1, "Benefits overview"),
        ("text", 0, 1, "Pension contribution is 6%."),
        ("text", 0, 1, "Notes: Mention the wellbeing allowance."),
        ("heading", 1, 2, "Allowances"),
        ("table", 0, 2, "Allowance | Amount\nWellbeing | 400 EUR"),
    ]


def test_xlsx_sheets_become_sections_with_header_rows():
    parsed = parse_document("balances.xlsx", xlsx_bytes())
    assert kinds(parsed) == [
        ("heading", 1, None, "Balances"),
        ("table", 0, None, "Employee | Days left\nalice | 12\nbob | 7.5"),
    ]
    assert parsed.blocks[1].rows[0] == ("Employee", "Days left")


def test_csv_rows_keep_their_header_and_delimiter_is_detected():
    parsed = parse_document("b.csv", b"name;days\nalice;12\nbob;7\n")
    assert kinds(parsed) == [("table", 0, None, "name | days\nalice | 12\nbob | 7")]


def test_html_keeps_main_text_and_drops_scripts_and_navigation():
    html = b"""<!doctype html><html><head><title>t</title><script>steal()</script></head><body>
    <nav><a href="/">Home</a> <a href="/x">Menu item</a></nav>
    <main><h1>Expenses</h1><p>Claim within <b>30 days</b>.</p><ul><li>Receipts</li><li>Mileage</li></ul>
    <table><tr><th>Item</th><th>Limit</th></tr><tr><td>Hotel</td><td>150</td></tr></table>
    <div>Loose text <span>inside</span> a div</div></main>
    <footer>Copyright</footer><style>p{}</style></body></html>"""
    parsed = parse_document("expenses.html", html)
    assert kinds(parsed) == [
        ("heading", 1, None, "Expenses"),
        ("text", 0, None, "Claim within 30 days."),
        ("text", 0, None, "- Receipts\n- Mileage"),
        ("table", 0, None, "Item | Limit\nHotel | 150"),
        ("text", 0, None, "Loose text inside a div"),
    ]


def test_markdown_tables_and_lists_are_parsed_by_markdown_it():
    parsed = parse_document("m.md", b"# T\n\n- one\n- **two**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert kinds(parsed) == [
        ("heading", 1, None, "T"),
        ("text", 0, None, "- one\n- two"),
        ("table", 0, None, "a | b\n1 | 2"),
    ]


def test_decompression_bomb_is_refused_before_unpacking(settings):
    settings.MAX_UNPACKED_BYTES = 5_000_000
    bomb = zip_bomb_docx(20_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(UnreadableDocument, match="decompression bomb"):
        parse_document("bomb.docx", bomb)


def test_too_many_spreadsheet_rows_is_refused(settings):
    settings.MAX_TABLE_ROWS = 10
    with pytest.raises(UnreadableDocument, match="more than 10 rows"):
        parse_document("big.xlsx", xlsx_bytes([("h",)] + [(i,) for i in range(20)]))


@pytest.mark.parametrize("name", ["broken.docx", "broken.pptx", "broken.xlsx"])
def test_damaged_office_files_fail_with_a_reason(name):
    data = docx_bytes()[:400]  # a truncated ZIP: signature present, directory missing
    with pytest.raises(UnreadableDocument, match="damaged|content is binary"):
        parse_document(name, data)


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared sample data not present")
@pytest.mark.parametrize("name", ["manual.docx", "manual.html", "manual.md"])
def test_sample_manual_parses_with_headings_in_every_format(name):
    parsed = parse_document(name, (SAMPLE / name).read_bytes())
    headings = [b.text for b in parsed.blocks if b.kind == "heading"]
    text = " ".join(b.text for b in parsed.blocks)
    assert len(headings) >= 10, headings
    assert "direct deposit" in text
