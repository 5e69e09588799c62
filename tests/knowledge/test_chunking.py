from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge import embedding
from knowledge.chunking import chunk_blocks
from knowledge.parsing import Block, parse_document
from knowledge.parsing.blocks import table_block

LIMIT = embedding.MAX_SEQUENCE_TOKENS - 2


def chunk(blocks, max_tokens=60, overlap=10):
    return chunk_blocks(blocks, max_tokens=max_tokens, overlap_tokens=overlap, count_tokens=embedding.count_tokens)


def test_chunk_text_is_exactly_its_span_of_the_parsed_text():
    parsed = parse_document("a.md", b"# A\n\nOne two three.\n\nFour five.\n\n## B\n\nSix seven.")
    result = chunk(parsed.blocks)
    assert result.chunks
    for spec in result.chunks:
        assert result.parsed_text[spec.char_start : spec.char_end] == spec.text


def test_chunks_never_cross_a_heading_and_carry_the_heading_path():
    blocks = [
        Block("heading", "Leave", level=1),
        Block("heading", "Annual leave", level=2),
        Block("text", "You get 25 days."),
        Block("heading", "Carry-over", level=3),
        Block("text", "Up to 5 days carry over."),
        Block("heading", "Expenses", level=1),
        Block("text", "Claim within 30 days."),
    ]
    result = chunk(blocks, max_tokens=200)
    assert [(c.heading_path, c.text) for c in result.chunks] == [
        ("Leave > Annual leave", "You get 25 days."),
        ("Leave > Annual leave > Carry-over", "Up to 5 days carry over."),
        ("Expenses", "Claim within 30 days."),
    ]


def test_long_section_is_split_within_the_token_limit_with_overlap():
    sentences = [f"Rule number {i} says employees must file form HR-{i} before the deadline." for i in range(60)]
    result = chunk([Block("heading", "Rules", level=1), Block("text", " ".join(sentences))], max_tokens=80, overlap=20)
    assert len(result.chunks) > 3
    assert all(c.token_count <= 80 for c in result.chunks)
    for before, after in zip(result.chunks, result.chunks[1:], strict=False):
        assert after.char_start < before.char_end, "consecutive pieces of one paragraph overlap"
    covered = "".join(result.parsed_text[c.char_start : c.char_end] for c in result.chunks)
    assert all(s in covered for s in sentences)


def test_no_chunk_exceeds_the_embedding_model_limit_even_for_unbroken_text():
    monster = "x" * 5000 + " " + "supercalifragilistic" * 300
    result = chunk([Block("text", monster)], max_tokens=LIMIT, overlap=32)
    assert result.chunks
    assert max(c.token_count for c in result.chunks) <= LIMIT


def test_chunks_keep_their_page_and_do_not_cross_pages():
    blocks = [Block("text", "First page text.", page=1), Block("text", "Second page text.", page=2)]
    result = chunk(blocks, max_tokens=200)
    assert [(c.page, c.text) for c in result.chunks] == [(1, "First page text."), (2, "Second page text.")]


def test_table_that_fits_stays_whole():
    table = table_block([["City", "Limit"], ["Paris", "220 EUR"], ["Lyon", "150 EUR"]])
    result = chunk([Block("heading", "Hotels", level=1), table], max_tokens=200)
    assert [c.text for c in result.chunks] == ["City | Limit\nParis | 220 EUR\nLyon | 150 EUR"]


def test_long_table_is_split_between_rows_with_the_header_repeated():
    rows = [["Employee", "Grade", "Days left"]] + [[f"person{i}", f"C{i % 6 + 1}", str(i)] for i in range(80)]
    result = chunk([Block("heading", "Balances", level=1), table_block(rows)], max_tokens=60)
    assert len(result.chunks) > 3
    for spec in result.chunks:
        assert spec.text.startswith("Employee | Grade | Days left\n")
        assert spec.token_count <= 60
        assert result.parsed_text[spec.char_start : spec.char_end] == spec.text.split("\n", 1)[1]
    body = "\n".join(spec.text.split("\n", 1)[1] for spec in result.chunks)
    assert all(f"person{i} |" in body for i in range(80)), "every row is in some chunk"


def test_a_paragraph_styled_as_a_heading_is_kept_as_text():
    styled = "Employees who travel abroad " + " ".join(f"must file expense report {i};" for i in range(60))
    result = chunk([Block("heading", "Travel", level=1), Block("heading", styled, level=2), Block("text", "Body.")])
    assert all(c.heading_path == "Travel" for c in result.chunks)
    assert "must file expense report 59;" in " ".join(c.text for c in result.chunks)
    assert max(c.token_count for c in result.chunks) <= 60


def test_a_deep_heading_path_keeps_its_innermost_headings_within_limits():
    headings = [Block("heading", f"Level {n} " + "policy words " * 12, level=n) for n in range(1, 9)]
    result = chunk([*headings, Block("text", "The rule itself.")], max_tokens=LIMIT)
    (only,) = result.chunks
    assert only.heading_path.startswith("… > ") and only.heading_path.endswith(headings[-1].text)
    assert len(only.heading_path) <= 1000
    assert embedding.count_tokens(only.heading_path) <= LIMIT // 2
    assert only.token_count <= LIMIT and only.text == "The rule itself."


_WORDS = st.sampled_from(["leave", "carry-over", "25", "days.", "Ünïcödé", "x" * 120, "日本語", "supercalifragilistic"])
_BLOCKS = st.lists(
    st.builds(
        Block,
        kind=st.sampled_from(["heading", "text"]),
        text=st.lists(_WORDS, min_size=1, max_size=150).map(" ".join),
        level=st.integers(1, 6),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(_BLOCKS, st.integers(24, LIMIT))
def test_every_chunk_fits_the_model_with_its_heading_path_whatever_the_headings(blocks, max_tokens):
    result = chunk(blocks, max_tokens=max_tokens, overlap=8)
    for spec in result.chunks:
        assert spec.token_count == embedding.count_tokens(spec.embedding_text) <= max_tokens
        assert len(spec.heading_path) <= 1000
