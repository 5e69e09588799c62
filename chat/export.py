"""A conversation as a Markdown file the asker can keep or forward.

Built from `chat.history`, so a cited passage is written out only while the asker may
still read its document, exactly as on the page.
"""

from chat.history import ShownCitation, conversation_messages
from chat.models import Conversation


def conversation_markdown(user, conversation: Conversation) -> str:
    lines = [f"# {_one_line(conversation.title)}", "", f"Exported {conversation.updated_at:%Y-%m-%d %H:%M} UTC", ""]
    for message in conversation_messages(user, conversation):
        lines += [f"## {_one_line(message.question)}", "", message.answer or "(no answer)", ""]
        if message.status != "complete":
            lines += [f"_Answer {message.status}._", ""]
        if message.citations:
            lines += ["Sources:", ""]
            lines += [_source(c) for c in message.citations]
            lines.append("")
    return "\n".join(lines)


def _source(citation: ShownCitation) -> str:
    if not citation.available:
        return f"- [{citation.marker}] {citation.document_title}"
    where = " > ".join(p for p in [citation.document_title, citation.heading_path] if p)
    if citation.page:
        where += f", page {citation.page}"
    if citation.version:
        where += f" ({citation.version_clause})"
    quote = " ".join(citation.text.split())
    return f"- [{citation.marker}] {where}: “{quote}”"


def _one_line(text: str) -> str:
    return " ".join(text.split())
