"""The numbered-sources prompt. Its version is stored with every answer it produced.

Small local models follow an example far better than an instruction, so the prompt shows
one worked question with a cited answer before the real one.
"""

from chat.citations import section_of
from knowledge.retrieval import Passage

PROMPT_VERSION = "sources-v2"

SYSTEM_PROMPT = (
    "You answer employees' questions about the company handbook. Use only the numbered sources. "
    "Copy the facts from the sources and end each sentence with the number of its source in brackets, "
    "like [1]. If the sources do not answer the question, say that the documents do not cover it."
)

EXAMPLE_QUESTION = (
    "Sources:\n\n[1] Relocation > Moving leave\nEmployees get 3 days of paid moving leave when they relocate.\n\n"
    "[2] Offices > Opening hours\nThe office opens at 08:00.\n\nQuestion: How much moving leave do I get?"
)
EXAMPLE_ANSWER = "You get 3 days of paid moving leave when you relocate [1]."

NOT_COVERED_ANSWER = "I could not find anything about this in the documents available to you."


def source_label(passage: Passage) -> str:
    parts = [passage.document_title]
    section = section_of(passage.document_title, passage.heading_path)
    if section:
        parts.append(section)
    if passage.page:
        parts.append(f"page {passage.page}")
    return " > ".join(parts)


def build_messages(question: str, passages: list[Passage]) -> list[dict[str, str]]:
    sources = "\n\n".join(
        f"[{number}] {source_label(passage)}\n{passage.text}" for number, passage in enumerate(passages, start=1)
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": EXAMPLE_QUESTION},
        {"role": "assistant", "content": EXAMPLE_ANSWER},
        {"role": "user", "content": f"Sources:\n\n{sources}\n\nQuestion: {question.strip()}"},
    ]
