"""HTML main text with BeautifulSoup: headings, paragraphs, lists and tables; scripts and navigation dropped."""

from bs4 import BeautifulSoup, NavigableString, Tag

from knowledge.parsing.blocks import Block, heading, paragraph, table_block

_DROP = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "svg", "iframe"]
_TEXT_TAGS = {"p", "li", "pre", "blockquote", "dt", "dd", "figcaption", "address", "summary", "caption"}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


def html_blocks(text: str) -> list[Block]:
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(_DROP):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": "navigation"}) + soup.find_all(attrs={"aria-hidden": "true"}):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.find(attrs={"role": "main"}) or soup.body or soup
    blocks: list[Block] = []
    _walk(root, blocks)
    return blocks


def _walk(node: Tag, blocks: list[Block]) -> None:
    loose: list[str] = []

    def flush() -> None:
        if block := paragraph(" ".join(" ".join(loose).split())):
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
            if block := paragraph(text if name == "pre" else " ".join(text.split())):
                blocks.append(block)
        else:
            _walk(child, blocks)
    flush()
