"""Synthetic questions for tuning embeddings: the configured language model asked what each passage answers.

Here, not in knowledge.tuning, because it needs the chat's model backend; the tuning code is
given the writer (`Sources.write_question`), so knowledge never imports chat.
"""

import asyncio
from collections.abc import Callable

from chat.generation import GenerationError, get_backend

PROMPT = (
    "Write one question that an employee could ask and that the passage below answers. "
    "Reply with the question only, on one line."
)


def question_writer(max_passage_chars: int = 2000) -> Callable[[str], str]:
    backend = get_backend()

    async def ask(passage: str) -> str:
        messages = [{"role": "system", "content": PROMPT}, {"role": "user", "content": passage[:max_passage_chars]}]
        return "".join([piece async for piece in backend.stream(messages, max_tokens=48, stop=["\n"])])

    def write(passage: str) -> str:
        """A line that reads as a question, or "" (a failed or rambling reply adds no pair)."""
        try:
            reply = asyncio.run(ask(passage))
        except GenerationError:
            return ""
        line = next((line.strip() for line in reply.splitlines() if line.strip()), "")
        return line if line.endswith("?") and 8 <= len(line) <= 300 else ""

    return write
