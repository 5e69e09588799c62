import re
from pathlib import Path

import pytest

from knowledge.parsing import UnreadableDocument, parse_document
from tests.pdfs import encrypted_pdf, pdf_with_pages

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "hr-sample" / "opengov-hr-manual"


def test_markdown_headings_and_paragraphs_become_blocks():
    parsed = parse_document("leave.md", b"# Leave\n\nIntro text.\n\n## Annual\n\nYou get 25 days.\nSecond line.\n")
    assert [(b.kind, b.level, b.text) for b in parsed.blocks] == [
        ("heading", 1, "Leave"),
        ("text", 0, "Intro text."),
        ("heading", 2, "Annual"),
        ("text", 0, "You get 25 days.\nSecond line."),
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
        ("noext", b"hello", "Unsupported file type (without an extension)"),
        ("fake.pdf", b"just text, not a pdf", "not a PDF"),
        ("corrupt.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "damaged"),
        ("binary.txt", b"abc\x00\x01\x02def", "binary"),
        ("pdf-named.md", pdf_with_pages(["x"]), "binary"),
        ("latin1.txt", "Café crème".encode("latin-1"), "not UTF-8"),
        ("scan.pdf", pdf_with_pages([""]), "no extractable text"),
        ("locked.pdf", encrypted_pdf("Salaries"), "password-protected"),
    ],
)
def test_unusable_files_raise_a_readable_reason(name, data, reason):
    with pytest.raises(UnreadableDocument, match=re.escape(reason)):
        parse_document(name, data)
