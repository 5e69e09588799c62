"""Documents as people keep them: hard-wrapped Markdown with front matter, wrapped plain text, PDFs'
line and page breaks, and titles from the documents themselves."""

import io

import pytest

from knowledge.parsing import UnreadableDocument, parse_document
from knowledge.parsing.front_matter import effective_dates, split_front_matter
from knowledge.parsing.pdf import pdf_blocks, without_running_lines
from knowledge.sentences import sentences
from tests.pdfs import pdf_with_pages


def texts(parsed) -> list[tuple[str, str]]:
    return [(b.kind, b.text) for b in parsed.blocks]


WRAPPED = b"""---
title: "Pay and Bonuses"
layout: handbook-page
effective: 2026-03-01
last_reviewed: 2025-11-02
redirect_from:
  - /pay/
---
{% include toc.html %}
# Bonuses

If you are eligible for an end-of-year individual performance award (cash or
equity), it is paid in {{ site.bonus_month }}March with the
salary of that month.

See [the bonus rules][rules] for details.

[rules]: https://example.com/bonus-rules
"""


def test_hard_wrapped_markdown_keeps_its_sentences_whole():
    parsed = parse_document("pay.md", WRAPPED)
    assert texts(parsed) == [
        ("heading", "Bonuses"),
        (
            "text",
            "If you are eligible for an end-of-year individual performance award (cash or equity), "
            "it is paid in March with the salary of that month.",
        ),
        ("text", "See the bonus rules for details."),
    ]


def test_front_matter_is_metadata_not_text():
    parsed = parse_document("pay.md", WRAPPED)
    assert parsed.title == "Pay and Bonuses"
    assert parsed.metadata["layout"] == "handbook-page"
    assert parsed.metadata["redirect_from"] == ["/pay/"]
    assert parsed.metadata["last_reviewed"] == "2025-11-02"
    assert not any("layout" in b.text or "redirect_from" in b.text or "{%" in b.text for b in parsed.blocks)
    from_, until = effective_dates(parsed.metadata)
    assert (str(from_), until) == ("2026-03-01", None)


def test_toml_front_matter_and_hugo_shortcodes():
    parsed = parse_document(
        "leave.md",
        b'+++\ntitle = "Leave"\nweight = 3\n+++\n\nYou get {{< figure src="x.png" >}}25 days\nof leave a year.\n',
    )
    assert parsed.title == "Leave" and parsed.metadata["weight"] == 3
    assert texts(parsed) == [("text", "You get 25 days of leave a year.")]


@pytest.mark.parametrize(
    "source",
    [
        b"---\n\nA thematic break opens this file.\n",  # no closing delimiter: text, not front matter
        b"---\n- a list\n- not a mapping\n---\nBody text here.\n",  # YAML, but not a mapping
    ],
)
def test_what_only_looks_like_front_matter_stays_text(source):
    parsed = parse_document("odd.md", source)
    assert parsed.metadata == {}
    assert any("file" in b.text or "list" in b.text for b in parsed.blocks)


def test_broken_front_matter_is_dropped_not_quoted():
    parsed = parse_document("broken.md", b"---\ntitle: [unclosed\nowner: HR\n---\nThe rule is here.\n")
    assert texts(parsed) == [("text", "The rule is here.")]
    assert parsed.metadata == {}


def test_hostile_front_matter_is_bounded():
    """A YAML alias bomb would be a billion values; a giant header is not read as metadata."""
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        levels.append(f"{chr(97 + n)}: &{chr(97 + n)} [" + ", ".join([f"*{chr(96 + n)}"] * 9) + "]")
    bomb = ("---\n" + "\n".join(levels) + "\n---\nBody.\n").encode()
    metadata, body = split_front_matter(bomb.decode())
    assert body.strip() == "Body."
    assert len(str(metadata)) < 100_000
    huge = ("---\n" + "k: " + "v" * 70_000 + "\n---\nBody.\n").encode()
    assert parse_document("huge.md", huge).metadata == {}


def test_wrapped_plain_text_joins_lines_but_keeps_lists_tables_and_headings():
    text = (
        b"Annual Leave\n\n"
        b"Full-time staff get 25 days of leave\na year. Part-time staff get a pro rata\nshare.\n\n"
        b"You need:\n* a form\n- your manager's\n  approval\n\n"
        b"Band   Days\nA      25\nB      27\n\n"
        b"## Carry-over\nUp to 5 days carry over\ninto the next year.\n"
    )
    assert texts(parse_document("leave.txt", text)) == [
        ("heading", "Annual Leave"),
        ("text", "Full-time staff get 25 days of leave a year. Part-time staff get a pro rata share."),
        ("text", "You need:\n- a form\n- your manager's approval"),
        ("text", "Band   Days\nA      25\nB      27"),
        ("heading", "Carry-over"),
        ("text", "Up to 5 days carry over into the next year."),
    ]


def test_a_labelled_line_alone_is_not_a_heading():
    assert texts(parse_document("a.txt", b"Last updated: 2018-01-08\n\nBody.")) == [
        ("text", "Last updated: 2018-01-08"),
        ("text", "Body."),
    ]


def test_pdf_lines_join_across_line_and_page_breaks_with_running_lines_dropped():
    header = "OpenGov Handbook - Confidential"
    pages = [
        f"{header}\nSick Leave\nPlease notify the team if you are sick. All employ-\n"
        "ees keep full pay for the first\n1",
        f"{header}\nseven days of illness. A full-\ntime employee needs a note. Full-time staff\nare covered too.\n2",
        f"{header}\nExpenses are paid monthly.\n3",
    ]
    parsed = parse_document("handbook.pdf", pdf_with_pages(pages))
    body = [(b.page, b.kind, b.text) for b in parsed.blocks]
    assert body == [
        (1, "heading", "Sick Leave"),
        (
            1,
            "text",
            "Please notify the team if you are sick. All employees keep full pay for the first seven days of illness.",
        ),
        (2, "text", "A full-time employee needs a note. Full-time staff are covered too."),
        (3, "text", "Expenses are paid monthly."),
    ]
    assert not any(header in b.text for b in parsed.blocks)


def test_running_lines_need_most_pages_and_page_numbers_go_anywhere():
    pages = [["Draft", "Rule one.", "Page 1 of 3"], ["Rule two.", "- 2 -"], ["Draft", "Rule three.", "iii"]]
    assert without_running_lines(pages) == [["Draft", "Rule one."], ["Rule two."], ["Draft", "Rule three."]]
    four = [["Acme Ltd", f"Rule {n}.", str(n)] for n in range(1, 5)]
    assert without_running_lines(four) == [[f"Rule {n}."] for n in range(1, 5)]


def test_pdf_hyphen_kept_where_the_document_writes_the_word_with_one():
    blocks = pdf_blocks([["Some staff work part-time. Other part-", "time staff have a contract."]])
    assert blocks[0].text == "Some staff work part-time. Other part-time staff have a contract."
    blocks = pdf_blocks([["The reimburse-", "ment is paid when the reimbursement form is in."]])
    assert blocks[0].text == "The reimbursement is paid when the reimbursement form is in."


def test_pdf_bullets_keep_a_line_each():
    blocks = pdf_blocks([["Covered expenses:", "• Travel between", "offices.", "• Office supplies."]])
    assert [b.text for b in blocks] == ["Covered expenses:\n- Travel between offices.\n- Office supplies."]


def test_docx_title_from_core_properties_then_html_title():
    import docx

    document = docx.Document()
    document.core_properties.title = "Travel Policy 2026"
    document.add_paragraph("Book trains through TripDesk.")
    buffer = io.BytesIO()
    document.save(buffer)
    assert parse_document("travel_v3_final.docx", buffer.getvalue()).title == "Travel Policy 2026"
    page = b"<html><head><title>Leave | Acme</title></head><body><main><p>25 days.</p></main></body></html>"
    assert parse_document("leave.html", page).title == "Leave | Acme"
    untitled = b"<html><body><h1>Remote Work</h1><p>Two days a week.</p></body></html>"
    assert parse_document("r.html", untitled).title == "Remote Work"


def test_html_site_parts_are_not_passages():
    page = b"""<html><body>
    <div class="navbar"><a href="/">Home</a><a href="/hr">HR</a></div>
    <div role="banner">Acme intranet</div>
    <ul class="breadcrumb"><li>Home</li><li>Policies</li></ul>
    <div id="content"><h1>Leave</h1><p>You get <a href="/x">25 days</a>.</p></div>
    <div class="site-footer">Copyright Acme</div></body></html>"""
    assert texts(parse_document("leave.html", page)) == [("heading", "Leave"), ("text", "You get 25 days.")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Claims are paid e.g. for travel. The rate is 12.5% of salary.", 2),
        ("Employees in the U.S. get 10 days. Others get 25 days.", 2),
        ("See Sec. 3 for details. Approx. 40 hours per week are expected.", 2),
        ("The allowance is 1,000.50 EUR per year. It is paid on 2026-06-30.", 2),
        ("Dr. Smith approves leave. Is that clear? Yes.", 3),
        ("Budget:\n- travel\n- hotels", 3),
    ],
)
def test_sentences_know_abbreviations_figures_and_lines(text, expected):
    found = sentences(text)
    assert len(found) == expected, found
    assert all(s == s.strip() and s in text for s in found)


def test_empty_and_blank_inputs():
    assert sentences("") == [] and sentences(" \n\n ") == []
    only_header = parse_document("blank.md", b"---\ntitle: Only a header\n---\n")
    assert only_header.blocks == [] and only_header.title == "Only a header"
    with pytest.raises(UnreadableDocument):
        parse_document("blank.md", b"")
