"""A conversation as a Markdown file the asker can keep or forward.

Built from `chat.history`, so a cited passage is written out only while the asker may
still read its document, exactly as on the page.
"""

from chat.history import ShownCitation, ShownMessage, conversation_messages
from chat.models import Conversation
from chat.notes import incomplete_warning


def conversation_markdown(user, conversation: Conversation) -> str:
    lines = [f"# {_one_line(conversation.title)}", "", f"Exported {conversation.updated_at:%Y-%m-%d %H:%M} UTC", ""]
    for message in conversation_messages(user, conversation):
        lines += [f"## {_one_line(message.question)}", ""]
        if warnings := answer_warnings(message):
            lines += [*(f"> {w}" for w in warnings), ""]
        lines += [message.answer or "(no answer)", ""]
        if message.status != "complete":
            lines += [f"_Answer {message.status}._", ""]
        if message.citations:
            lines += ["Sources:", ""]
            lines += [_source(c) for c in message.citations]
            lines.append("")
    return "\n".join(lines)


def answer_warnings(message: ShownMessage) -> list[str]:
    """What the page shows above an answer, in the same words, so a forwarded answer keeps them."""
    return warnings_for(
        answer=message.answer,
        status=message.status,
        support=message.support,
        cited=len(message.citations),
        incomplete=message.incomplete,
    )


def warnings_for(*, answer: str, status: str, support: list[dict], cited: int, incomplete: list[str]) -> list[str]:
    """The export's and the answer API's warnings (the page renders the same from answer.end)."""
    warnings = []
    flagged = [s for s in support if s.get("verdict") != "supported"]
    if flagged:
        quoted = "; ".join(f"“{_one_line(answer[s['start'] : s['end']])}”" for s in flagged)
        warnings.append(f"{CHECK_FIRST} {_sentences(len(flagged))} not backed by a cited passage: {quoted}")
    if status == "complete" and not cited:
        warnings.append(NO_SOURCE)
    if incomplete:
        warnings.append(incomplete_warning(incomplete))
    return warnings


CHECK_FIRST = "Check before relying on this:"
NO_SOURCE = "No source: this answer cites no passage of your documents."


def _sentences(count: int) -> str:
    return "1 sentence is" if count == 1 else f"{count} sentences are"


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
