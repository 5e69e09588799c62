"""PDF text layer -> paragraphs that cross line and page breaks; every block keeps its page number.

A PDF stores lines, not paragraphs: a sentence read line by line is cut at every line end,
a word hyphenated at a line end is two, and each page's running header, footer and number
would be passages of their own. Lines are therefore joined into paragraphs (a blank line or a
short line that ends a sentence ends one; a line that ends mid-sentence continues on the next
line or page), hyphenation is undone where the document's own words say so, and lines that
repeat at the top or bottom of most pages are dropped. A sentence that runs over a page break
is cited on the page where it starts.

The text comes from pdfminer.six by default (`PDF_TEXT_ENGINE`): its layout analysis puts the
spaces of justified text back and separates paragraphs; pypdf ran words together
("Annualcostofliving…") on the sample manual. README, "Documents", has the comparison.
"""

import io
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator

from django.conf import settings

from knowledge.parsing.blocks import Block, ParsedDocument, UnreadableDocument, heading, looks_like_heading, paragraph
from knowledge.sentences import sentence_spans

logger = logging.getLogger(__name__)

ENGINES = ("pdfminer", "pypdfium2", "pypdf")
EDGE_LINES = 3  # lines at the top and at the bottom of a page where running headers and footers sit
RUNNING_SHARE = 0.5  # on at least this share of the pages (and 3 of them) a line is the page's, not the text's
_PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?[-–—]?\s*(?:\d{1,4}|[ivxlc]{1,6})\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE
)
_BULLET = re.compile(r"^(?:[•◦▪‣●○■□–—*]|-(?=\s))\s*")
_ENDS_SENTENCE = re.compile(r"[.!?:;][\"'”’)\]]*$")
_HYPHENATED = re.compile(r"([^\W\d_]+)-$")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def parse_pdf(data: bytes) -> ParsedDocument:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument("The PDF is password-protected; upload a copy without a password.")
        pages = page_texts(data, settings.PDF_TEXT_ENGINE, reader)
    except UnreadableDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - PDF libraries raise many exception types on damaged files
        logger.info("Unreadable PDF: %r", exc)
        raise UnreadableDocument(
            "The PDF is damaged and cannot be read; open it in a PDF reader, "
            "save or print it to a new PDF and upload that."
        ) from None
    lines = [[unicodedata.normalize("NFKC", line).strip() for line in text.splitlines()] for text in pages]
    blocks = pdf_blocks(lines)
    if not blocks:
        raise UnreadableDocument(
            "The PDF has no extractable text (it may be a scan); upload a version with a text layer."
        )
    return ParsedDocument(blocks=blocks, page_count=len(pages), title=_title(reader))


def page_texts(data: bytes, engine: str, reader=None) -> list[str]:
    """Each page's text, lines separated by newlines, paragraphs (where the engine sees them) by blank lines."""
    if engine == "pdfminer":
        from pdfminer.high_level import extract_pages
        from pdfminer.layout import LTTextContainer

        return [
            "\n\n".join(element.get_text() for element in page if isinstance(element, LTTextContainer))
            for page in extract_pages(io.BytesIO(data))
        ]
    if engine == "pypdfium2":
        import pypdfium2

        document = pypdfium2.PdfDocument(data)
        try:
            return [document[i].get_textpage().get_text_bounded() for i in range(len(document))]
        finally:
            document.close()
    return [page.extract_text() or "" for page in reader.pages]


def _title(reader) -> str:
    """The title the PDF states of itself; "Microsoft Word - x.docx" and file names are not titles."""
    try:
        title = (reader.metadata or {}).get("/Title") or ""
    except Exception:  # noqa: BLE001 - a damaged info dictionary is no reason to refuse the text
        return ""
    title = " ".join(str(title).split())
    if not title or re.search(r"\.\w{2,4}$|^microsoft\s|^untitled", title, re.IGNORECASE):
        return ""
    return title[:300]


def pdf_blocks(pages: list[list[str]]) -> list[Block]:
    pages = without_running_lines(pages)
    vocabulary = Counter(w.lower() for page in pages for line in page for w in _WORD.findall(line))
    blocks: list[Block | None] = []
    for kind, text, starts in _paragraphs(pages, vocabulary):
        if kind == "heading":
            blocks.append(heading(text, 2, page=starts[0][1]))
        else:
            blocks.extend(_by_page(text, starts))
    return [b for b in blocks if b]


def without_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Page numbers at a page's edge, and lines (numbers aside) that recur at the edges of most pages."""

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", " ".join(line.lower().split()))

    edges = [_edge_positions(page) for page in pages]
    counts = Counter(k for page, positions in zip(pages, edges, strict=True) for k in {key(page[i]) for i in positions})
    with_text = sum(1 for page in pages if any(page))
    floor = max(3, RUNNING_SHARE * with_text)
    running = {k for k, n in counts.items() if n >= floor}
    kept = []
    for page, positions in zip(pages, edges, strict=True):
        drop = {i for i in positions if key(page[i]) in running or _PAGE_NUMBER.match(page[i])}
        kept.append([line for i, line in enumerate(page) if i not in drop])
    return kept


def _edge_positions(page: list[str]) -> list[int]:
    """A short page's edges are its first and last line only: its middle is text."""
    filled = [i for i, line in enumerate(page) if line]
    edge = min(EDGE_LINES, max(1, len(filled) // 4))
    return sorted(set(filled[:edge] + filled[-edge:]))


def _paragraphs(pages: list[list[str]], vocabulary: Counter) -> Iterator[tuple[str, str, list[tuple[int, int]]]]:
    """(kind, text, [(offset in text, page), …]) for each paragraph; list items keep a line each."""
    widths = sorted(len(line) for page in pages for line in page if line)
    full = widths[int(len(widths) * 0.9)] if widths else 0
    text, starts, broken = "", [], False  # broken: a blank line or a page break since the last line

    def finish():
        kind = "heading" if "\n" not in text and looks_like_heading(text) and len(starts) == 1 else "text"
        return kind, text, starts

    for number, page in enumerate(pages, start=1):
        broken = True
        for line in page:
            if not line:
                broken = True
                continue
            bullet = _BULLET.match(line)
            if bullet:
                line = "- " + line[bullet.end() :]
            if text and not _continues(text, line, broken, bool(bullet), full):
                yield finish()
                text, starts = "", []
            if not text:
                text = line
            elif bullet:
                text += "\n" + line
            elif match := _HYPHENATED.search(text):
                text = text[: match.end() - 1] + _after_hyphen(match.group(1), line, vocabulary)
            else:
                text += " " + line
            if not starts or starts[-1][1] != number:
                starts.append((len(text) - len(line), number))
            broken = False
    if text:
        yield finish()


def _continues(text: str, line: str, broken: bool, bullet: bool, full: int) -> bool:
    """Whether `line` goes on the paragraph so far: a line that ends a sentence short of the full
    width ends its paragraph, a blank line or a page break does unless the text stops mid-sentence."""
    last = text.rsplit("\n", 1)[-1]
    if bullet:  # an item after an item, or after the sentence that introduces the list
        return last.startswith("- ") or last.endswith(":")
    mid_sentence = not _ENDS_SENTENCE.search(last) and (line[:1].islower() or last.endswith(("-", ",")))
    if broken:
        return mid_sentence
    if looks_like_heading(last) and "\n" not in text and len(last) < 0.6 * full and line[:1].isupper():
        return False  # "Raises and Bonuses" over its first line
    return not (_ENDS_SENTENCE.search(last) and len(last) < 0.85 * full)


def _after_hyphen(first: str, line: str, vocabulary: Counter) -> str:
    """ "employ-" + "ees" is "employees"; "full-" + "time" stays "full-time" when the document writes
    it so, or when both halves are words of the document and the joined word is not."""
    match = _WORD.match(line)
    if not match:
        return "-" + line
    second = match.group().split("-")[0]
    joined, hyphened = (first + second).lower(), f"{first}-{second}".lower()
    keep = vocabulary[hyphened] > 0 or (
        not vocabulary[joined] and vocabulary[first.lower()] > 1 and vocabulary[second.lower()] > 1 and len(second) > 2
    )
    return ("-" if keep else "") + line


def _by_page(text: str, starts: list[tuple[int, int]]) -> list[Block | None]:
    """A paragraph over a page break: each sentence on the page where it starts."""
    if len(starts) == 1:
        return [paragraph(text, page=starts[0][1])]

    def page_at(offset: int) -> int:
        return [page for start, page in starts if start <= offset][-1]

    blocks, current, begin = [], None, 0
    for start, _ in sentence_spans(text):
        page = page_at(start)
        if current is not None and page != current:
            blocks.append(paragraph(text[begin:start], page=current))
            begin = start
        current = page
    blocks.append(paragraph(text[begin:], page=current or starts[0][1]))
    return blocks
