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
from dataclasses import dataclass
from datetime import date
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from chat import extraction, notes, personal, prompting
from chat.audit import audit_record
from chat.citations import ResolvedAnswer, passage_url, resolve_citations, section_of
from chat.extraction import Evidence
from chat.followup import standalone_question
from chat.gate import Gate, gated, quote
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


EXTRACTIVE_BACKEND = "documents"  # Message.backend of an answer made of the documents' own sentences


@dataclass(frozen=True)
class Found:
    passages: list[Passage]  # the asker's own records first, then the rest
    disagreements: list
    records: int = 0  # how many of the first passages are the asker's own records


async def answer_events(
    *,
    user,
    question: str,
    conversation_id: int | None,
    backend: Backend,
    today: date | None = None,
    options: SearchOptions | None = None,
    mode: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """`today`, `options` and `mode` are for evaluation: which day it is, search without versions,
    and "extractive" or "generative" whatever the setting."""
    conversation, previous = await database_sync_to_async(_conversation_for)(user, conversation_id, question)
    searched = standalone_question(question, previous)
    today = today or timezone.localdate()
    mode = mode or answer_mode()
    found = await _find_passages(user, searched, today=today, options=options)
    passages = prompting.fit_passages(
        searched, found.passages, context_tokens=backend.context_tokens, answer_tokens=settings.LLM_MAX_TOKENS
    )
    encode = embedding.encode_once_each()
    focus = question if searched != question else ""
    evidence = await _find_evidence(searched, Found(passages, found.disagreements, found.records), encode, focus)
    # A question about oneself is answered from the asker's record, word for word: a model adds nothing to it.
    from_record = any(e.marker <= found.records for e in evidence)
    generative = mode == GENERATIVE and bool(evidence) and not from_record
    message = await Message.objects.acreate(
        conversation=conversation,
        question=question,
        standalone_question=searched,
        prompt_version=prompting.PROMPT_VERSION,
        backend=backend.name if generative else EXTRACTIVE_BACKEND if evidence else "",
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
    gate = Gate(passages, evidence, encode=encode)
    loop = asyncio.get_running_loop()

    async def shown(piece: str) -> str:
        nonlocal answer
        if not answer:
            message.time_to_first_token_ms = int((time.monotonic() - started) * 1000)
        piece = _joined(answer, piece)
        answer += piece
        return piece

    try:
        if not evidence:
            yield event("answer.delta", text=await shown(not_covered(passages)))
        elif not generative:
            for sentence in _sentences_of(evidence):
                yield event("answer.delta", text=await shown(sentence))
        else:
            stream = backend.stream(
                prompting.build_messages(searched, passages),
                max_tokens=settings.LLM_MAX_TOKENS,
                stop=prompting.STOP_SEQUENCES,
            )

            async def check(sentence: str) -> str:
                return await loop.run_in_executor(_CHECKS, gate.check, sentence)

            async for sentence in gated(stream, check):
                yield event("answer.delta", text=await shown(sentence))
            for sentence in gate.remaining():
                yield event("answer.delta", text=await shown(sentence))
    except GenerationError as exc:
        await database_sync_to_async(_finish)(
            user, message, passages, resolve_citations(answer, passages), Message.Status.FAILED, str(exc)
        )
        yield event("error", message=str(exc))
        yield event("answer.end", message_id=message.pk, status=Message.Status.FAILED, answer=answer)
        return
    except BaseException:  # stopped by the user or a dropped socket: keep what was shown
        await database_sync_to_async(_finish)(
            user, message, passages, resolve_citations(answer, passages), Message.Status.STOPPED, ""
        )
        raise
    added: list[str] = []  # the product's notes after the answer (disagreements, dates)
    if evidence and (note := notes.disagreement_note(found.disagreements, passages)):
        answer += note
        added.append(note)
        yield event("answer.delta", text=note)
    resolved, support = await loop.run_in_executor(
        _CHECKS, _resolve_and_check, answer, passages, encode if evidence else None
    )
    if evidence and (note := notes.dates_note(resolved.cited.values())):
        resolved = dataclasses.replace(resolved, text=resolved.text + note)
        added.append(note)
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
        gate=gate.report.as_json(),
        notes=added,
    )


EXTRACTIVE, GENERATIVE = "extractive", "generative"


def answer_mode() -> str:
    """`ANSWER_MODE`: "extractive" (the documents' sentences), "generative" (the model writes,
    every sentence checked), or "auto": generative with a configured model server, extractive
    with the embedded 135M model, which measured worse than its sources (README, "Answers")."""
    mode = settings.ANSWER_MODE
    if mode == "auto":
        return GENERATIVE if settings.LLM_BASE_URL else EXTRACTIVE
    return mode


def not_covered(passages: list[Passage]) -> str:
    """The refusal, with the closest passages as related reading (cited, so they can be opened)."""
    if not passages:
        return prompting.NOT_COVERED_ANSWER
    related = []
    for n, passage in enumerate(passages[:RELATED_READING], start=1):
        section = section_of(passage.document_title, passage.heading_path)
        related.append(f"{passage.document_title}{' › ' + section if section else ''} [{n}]")
    return f"{prompting.NOT_COVERED_ANSWER}\n\nRelated reading: " + "; ".join(related) + "."


RELATED_READING = 3


def _sentences_of(evidence: list[Evidence]) -> list[str]:
    return [quote(e) for e in evidence]


def _joined(before: str, piece: str) -> str:
    """A shown sentence after another: a space within a passage's run, a paragraph between passages."""
    if not before:
        return piece.lstrip()
    if before.endswith((" ", "\n")) or piece.startswith((" ", "\n")):
        return piece
    return f" {piece}"


def _passages_for(user, searched: str, *, today: date, options: SearchOptions | None) -> Found:
    """Relevant passages (the asker's own records first, for a question about oneself), with those
    that contradict them beside them, found in one trip to a search thread."""
    options = options or SearchOptions.from_settings()
    oneself = personal.about_oneself(searched)
    records = []
    if oneself:
        records = retrieval.search_in(retrieval.own_records_scope(user, today=today), searched, k=1, options=options)
    scope = retrieval.question_scope(user, searched, today=today, options=options, about_oneself=oneself)
    passages = retrieval.search_in(scope, searched, k=settings.RETRIEVAL_TOP_K, options=options)
    mine = {r.chunk_id for r in records}
    relevant = [p for p in passages if relevant_enough(p, searched) and p.chunk_id not in mine]
    relevant, disagreements = retrieval.with_disagreements(scope, relevant)
    return Found(records + relevant, disagreements, len(records))


_find_passages = database_sync_to_async(_passages_for, thread_sensitive=False, executor=_SEARCHES)


def evidence_for(question: str, found: Found, encode, focus: str = "") -> list[Evidence]:
    """The sentences that answer: from the asker's own record first (dated), then the policies."""
    records, general = found.passages[: found.records], found.passages[found.records :]
    chosen: list[Evidence] = []
    if records and (mine := extraction.find_evidence(question, records, encode=encode, focus=focus)):
        best = mine[0]
        chosen.append(dataclasses.replace(best, text=personal.dated(best.text, records[best.marker - 1])))
    policy = extraction.find_evidence(question, general, encode=encode, focus=focus)
    shift = len(records)
    chosen += [dataclasses.replace(e, marker=e.marker + shift) for e in policy[: 1 if chosen else None]]
    return chosen


async def _find_evidence(question: str, found: Found, encode, focus: str) -> list[Evidence]:
    return await asyncio.get_running_loop().run_in_executor(_SEARCHES, evidence_for, question, found, encode, focus)


def relevant_enough(passage: Passage, question: str) -> bool:
    """Semantically close, or sharing an acronym with the question: embeddings blur TOIL or KIT.

    Any shared word is not enough: "office" or "company" match a handbook everywhere.
    """
    if passage.similarity >= settings.RETRIEVAL_MIN_SCORE:
        return True
    acronyms = set(extraction.ACRONYM.findall(question))
    return "lexical" in passage.stages and any(re.search(rf"\b{a}\b", passage.text) for a in acronyms)


def warm_up(backend: Backend) -> None:
    """Load the models while the person is still typing; each load happens once per process."""
    embedding.get_model()
    with contextlib.suppress(DatabaseError, embedding.ModelMissing):
        embedding.get_model(question_model())  # a tuned model, when one searches the knowledge base
    load = getattr(backend, "load", None)
    if load is not None and answer_mode() == GENERATIVE:
        load()


def _resolve_and_check(answer: str, passages: list[Passage], encode) -> tuple[ResolvedAnswer, SupportReport]:
    """Markers are already placed and checked by the time an answer is shown; this maps them to
    passages and records each sentence's verdict for the page. A refusal's related reading
    (`encode` None) states nothing to check."""
    resolved = resolve_citations(answer, passages)
    if encode is None:
        return resolved, SupportReport([], {})
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
