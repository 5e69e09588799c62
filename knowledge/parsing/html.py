"""HTML main text with BeautifulSoup: headings, paragraphs, lists and tables; scripts and navigation dropped.

A site's page carries its menus, banners, breadcrumbs and footers around the text: they are
the site, not the document, and would otherwise be passages in every page's answers.
"""

import re

from bs4 import BeautifulSoup, NavigableString, Tag

from knowledge.parsing.blocks import Block, ParsedDocument, heading, merge_list_items, paragraph, table_block

_DROP = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "svg", "iframe"]
_TEXT_TAGS = {"p", "li", "pre", "blockquote", "dt", "dd", "figcaption", "address", "summary", "caption"}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


_SITE_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary"}
_SITE_CLASS = re.compile(
    r"^(?:nav|navbar|navigation|menu|site-(?:header|footer|nav)|breadcrumbs?|sidebar|footer|skip-link|toc|"
    r"cookie-banner|pagination)$",
    re.IGNORECASE,
)


def parse_html(text: str) -> ParsedDocument:
    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ") if soup.title else ""
    if not title.strip() and (first := soup.find("h1")):
        title = first.get_text(" ")
    return ParsedDocument(blocks=_blocks(soup), title=" ".join(title.split())[:300])


def html_blocks(text: str) -> list[Block]:
    return _blocks(BeautifulSoup(text, "html.parser"))


def _blocks(soup: BeautifulSoup) -> list[Block]:
    for tag in soup(_DROP):
        tag.decompose()
    for tag in soup.find_all(_is_site_part):
        if not tag.decomposed and not tag.find(["main", "article"]):
            tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.find(attrs={"role": "main"}) or soup.body or soup
    blocks: list[Block] = []
    _walk(root, blocks)
    return merge_list_items(blocks)


def _is_site_part(tag: Tag) -> bool:
    if tag.name in {"main", "article", "body", "html"}:
        return False
    if tag.get("aria-hidden") == "true" or tag.get("role") in _SITE_ROLES:
        return True
    names = [*tag.get("class", []), tag.get("id") or ""]
    return any(_SITE_CLASS.match(name) for name in names if name)


def _walk(node: Tag, blocks: list[Block]) -> None:
    loose: list[str] = []

    def flush() -> None:
        if block := paragraph(_spaced(" ".join(loose))):
            blocks.append(block)
        loose.clear()

    for child in node.children:
        if isinstance(child, NavigableString):
            if child.strip() and type(child) is NavigableString:
                loose.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if name in {"a", "span", "strong", "em", "b", "i", "code", "small", "abbr", "sup", "sub", "br"}:
            loose.append(child.get_text(" "))
            continue
        flush()
        if name in _HEADINGS:
            if block := heading(child.get_text(" "), _HEADINGS[name]):
                blocks.append(block)
        elif name == "table":
            rows = [[cell.get_text(" ") for cell in tr.find_all(["th", "td"])] for tr in child.find_all("tr")]
            if block := table_block(rows):
                blocks.append(block)
        elif name in _TEXT_TAGS and not child.find(list(_HEADINGS) + ["table", "p", "ul", "ol"]):
            separator = "\n" if name == "pre" else " "
            text = child.get_text(separator)
            if name == "li" and text.strip():
                text = "- " + text
            if block := paragraph(text if name == "pre" else _spaced(text)):
                blocks.append(block)
        else:
            _walk(child, blocks)
    flush()


_BEFORE_STOP = re.compile(r"\s+(?=[.,;:!?)\]])|(?<=[(\[])\s+")


def _spaced(text: str) -> str:
    """Elements' texts are joined with spaces; "<a>Commission</a>." is still "Commission."."""
    return _BEFORE_STOP.sub("", " ".join(text.split()))
