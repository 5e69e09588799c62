"""Question -> retrieve -> prompt -> stream -> citations -> stored message, as a stream of events.

The consumer only forwards these events; a test can drive this function directly.
"""

import asyncio
import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from chat import notes, prompting
from chat.audit import audit_record
from chat.citations import ResolvedAnswer, passage_url, resolve_citations, section_of
from chat.followup import standalone_question
from chat.generation import Backend, GenerationError
from chat.models import Citation, Conversation, Message
from chat.protocol import ProtocolError, event
from chat.support import SupportReport, check_support
from knowledge import embedding, retrieval
from knowledge.embedding_models import question_model
from knowledge.retrieval import Passage, SearchOptions

# Searches (on the way to the first token) run beside each other, off the one thread Django's
# ORM calls share; the checks after an answer take one thread, so under load they cannot
# crowd out the searches of the people still waiting for their first token.
_SEARCHES = ThreadPoolExecutor(max_workers=16, thread_name_prefix="search")
_CHECKS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="support-check")


async def answer_events(
    *,
    user,
    question: str,
    conversation_id: int | None,
    backend: Backend,
    today: date | None = None,
    options: SearchOptions | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """`today` and `options` are for evaluation: which day it is, and search without versions."""
    conversation, previous = await database_sync_to_async(_conversation_for)(user, conversation_id, question)
    searched = standalone_question(question, previous)
    today = today or timezone.localdate()
    passages, disagreements = await _find_passages(user, searched, today=today, options=options)
    passages = prompting.fit_passages(
        searched, passages, context_tokens=backend.context_tokens, answer_tokens=settings.LLM_MAX_TOKENS
    )
    message = await Message.objects.acreate(
        conversation=conversation,
        question=question,
        standalone_question=searched,
        prompt_version=prompting.PROMPT_VERSION,
        backend=backend.name if passages else "",
    )
    yield event(
        "answer.start",
        conversation_id=conversation.pk,
        message_id=message.pk,
        title=conversation.title,
        standalone_question=searched,
    )
    started = time.monotonic()
    answer = ""
    try:
        if not passages:
            answer = prompting.NOT_COVERED_ANSWER
            yield event("answer.delta", text=answer)
        else:
            async for piece in backend.stream(
                prompting.build_messages(searched, passages),
                max_tokens=settings.LLM_MAX_TOKENS,
                stop=prompting.STOP_SEQUENCES,
            ):
                if not answer:
                    message.time_to_first_token_ms = int((time.monotonic() - started) * 1000)
                answer += piece
                yield event("answer.delta", text=piece)
    except GenerationError as exc:
        await database_sync_to_async(_finish)(
            user, message, passages, resolve_citations(answer, passages), Message.Status.FAILED, str(exc)
        )
        yield event("error", message=str(exc))
        yield event("answer.end", message_id=message.pk, status=Message.Status.FAILED, answer=answer)
        return
    except BaseException:  # stopped by the user or a dropped socket: keep what was said
        await database_sync_to_async(_finish)(
            user, message, passages, resolve_citations(answer, passages), Message.Status.STOPPED, ""
        )
        raise
    if note := notes.disagreement_note(disagreements, passages):
        answer += note
        yield event("answer.delta", text=note)
    resolved, support = await asyncio.get_running_loop().run_in_executor(_CHECKS, _resolve_and_check, answer, passages)
    if note := notes.dates_note(resolved.cited.values()):
        resolved = dataclasses.replace(resolved, text=resolved.text + note)
        yield event("answer.delta", text=note)
    citations = await database_sync_to_async(_finish)(
        user, message, passages, resolved, Message.Status.COMPLETE, "", support
    )
    yield event("answer.citations", message_id=message.pk, citations=citations)
    yield event(
        "answer.end",
        message_id=message.pk,
        status=Message.Status.COMPLETE,
        answer=resolved.text,
        support=support.as_json(),
    )


def _passages_for(user, searched: str, *, today: date, options: SearchOptions | None):
    """Relevant passages, with those that contradict them beside them, found in one trip to a search thread."""
    options = options or SearchOptions.from_settings()
    scope = retrieval.question_scope(user, searched, today=today, options=options)
    passages = retrieval.search_in(scope, searched, k=settings.RETRIEVAL_TOP_K, options=options)
    return retrieval.with_disagreements(scope, [p for p in passages if relevant_enough(p, searched)])


_find_passages = database_sync_to_async(_passages_for, thread_sensitive=False, executor=_SEARCHES)
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,7}\b")


def relevant_enough(passage: Passage, question: str) -> bool:
    """Semantically close, or sharing an acronym with the question: embeddings blur TOIL or KIT.

    Any shared word is not enough: "office" or "company" match a handbook everywhere.
    """
    if passage.similarity >= settings.RETRIEVAL_MIN_SCORE:
        return True
    acronyms = set(_ACRONYM.findall(question))
    return "lexical" in passage.stages and any(re.search(rf"\b{a}\b", passage.text) for a in acronyms)


def warm_up(backend: Backend) -> None:
    """Load the models while the person is still typing; each load happens once per process."""
    embedding.get_model()
    with contextlib.suppress(DatabaseError, embedding.ModelMissing):
        embedding.get_model(question_model())  # a tuned model, when one searches the knowledge base
    load = getattr(backend, "load", None)
    if load is not None:
        load()


def _resolve_and_check(answer: str, passages: list[Passage]) -> tuple[ResolvedAnswer, SupportReport]:
    """Both steps embed the passages' texts; each text is encoded once."""
    encode = embedding.encode_once_each()
    resolved = resolve_citations(answer, passages, encode=encode)
    return resolved, check_support(resolved.text, resolved.cited, encode=encode)


def _conversation_for(user, conversation_id: int | None, question: str) -> tuple[Conversation, str | None]:
    """The conversation, and its last standalone question for rewriting a follow-up."""
    if conversation_id is None:
        return Conversation.objects.create(user=user, title=question[:80]), None
    conversation = Conversation.objects.filter(pk=conversation_id, user=user).first()
    if conversation is None:
        raise ProtocolError("That conversation does not exist.")
    last = conversation.messages.order_by("-created_at", "-id").first()
    return conversation, (last.standalone_question or last.question) if last else None


def _finish(
    user,
    message: Message,
    prompt: list[Passage],
    resolved: ResolvedAnswer,
    status: str,
    error: str,
    support: SupportReport | None = None,
) -> list[dict[str, Any]]:
    support = support or SupportReport([], {})
    with transaction.atomic():
        message.answer = resolved.text
        message.status = status
        message.error = error
        message.dropped_markers = resolved.dropped_markers
        message.support = support.as_json()
        message.save()
        Citation.objects.bulk_create(
            Citation(
                message=message,
                marker=marker,
                chunk_id=passage.chunk_id,
                document_id=passage.document_id,
                document_title=passage.document_title,
                heading_path=passage.heading_path,
                page=passage.page,
                quote=passage.text,
                highlights=support.highlights.get(marker, []),
            )
            for marker, passage in resolved.cited.items()
        )
        Conversation.objects.filter(pk=message.conversation_id).update(updated_at=timezone.now())
        audit_record(message, user, prompt, list(resolved.cited.values()))
    return [
        citation_payload(marker, passage, support.highlights.get(marker, []))
        for marker, passage in resolved.cited.items()
    ]


def citation_payload(marker: int, passage: Passage, highlights: list[tuple[int, int]]) -> dict[str, Any]:
    return {
        "marker": marker,
        "chunk_id": passage.chunk_id,
        "document_id": passage.document_id,
        "document_title": passage.document_title,
        "heading_path": section_of(passage.document_title, passage.heading_path),
        "page": passage.page,
        "text": passage.text,
        "highlights": [list(span) for span in highlights],
        "url": passage_url(passage.document_id, passage.chunk_id),
        "version": passage.version,
        "version_state": passage.version_state,
    }
