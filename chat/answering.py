"""Question -> retrieve -> prompt -> stream -> citations -> stored message, as a stream of events.

The consumer only forwards these events; a test can drive this function directly.
"""

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone

from chat import coverage, extraction, figures, notes, passage_vectors, personal, prompting, protocol
from chat.audit import audit_record
from chat.citations import ResolvedAnswer, resolve_citations, section_of
from chat.extraction import Evidence
from chat.followup import standalone_question
from chat.gate import Gate, gated, quote
from chat.generation import Backend, GenerationError
from chat.models import Citation, Conversation, Message
from chat.protocol import ProtocolError
from chat.support import SupportReport, check_support
from knowledge import embedding, retrieval
from knowledge.embedding_models import question_model
from knowledge.retrieval import AnswerPassages, Passage, SearchOptions

# Searches (on the way to the first token) run beside each other, off the one thread Django's
# ORM calls share; the checks after an answer take one thread, so under load they cannot
# crowd out the searches of the people still waiting for their first token.
_SEARCHES = ThreadPoolExecutor(max_workers=16, thread_name_prefix="search")
_CHECKS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="support-check")
logger = logging.getLogger(__name__)


EXTRACTIVE_BACKEND = "documents"  # Message.backend of an answer made of the documents' own sentences


@dataclass
class Turn:
    """One answer from its stored message to its final status; `_store` is the only writer of that status."""

    user: Any
    message: Message
    passages: list[Passage] = dataclasses.field(default_factory=list)  # what the answer may use (the prompt)
    evidence: list[Evidence] = dataclasses.field(default_factory=list)
    disagreements: list = dataclasses.field(default_factory=list)
    answer: str = ""  # shown so far
    unanswered: list[str] = dataclasses.field(default_factory=list)  # parts of the question not answered
    stored: bool = False


async def answer_events(
    *,
    user,
    question: str,
    conversation_id: int | None,
    backend: Backend,
    today: date | None = None,
    options: SearchOptions | None = None,
    mode: str | None = None,
    earlier: str | None = None,
) -> AsyncIterator[protocol.Frame]:
    """`today`, `options` and `mode` are for evaluation: which day it is, search without versions,
    and "extractive" or "generative" whatever the setting. `earlier`: the previous question of a
    client that keeps the conversation itself (the OpenAI protocol), for a follow-up.

    Three steps, prepare, stream and conclude; whichever of them fails, or if the person stops
    the answer, the message is stored once with its final status and an audit entry.
    """
    conversation, previous = await database_sync_to_async(_conversation_for)(user, conversation_id, question)
    searched = standalone_question(question, previous or earlier)
    message = await Message.objects.acreate(
        conversation=conversation,
        question=question,
        standalone_question=searched,
        prompt_version=prompting.PROMPT_VERSION,
    )
    turn = Turn(user=user, message=message)
    try:
        gate, generative = await _prepare(turn, question, searched, backend, today, options, mode or answer_mode())
        yield protocol.answer_start(
            conversation_id=conversation.pk,
            message_id=message.pk,
            title=conversation.title,
            standalone_question=searched,
        )
        async for piece in _stream(turn, searched, gate, backend if generative else None):
            yield protocol.answer_delta(piece)
        async for frame in _conclude(turn, gate):
            yield frame
    except GenerationError as exc:
        await _store(turn, Message.Status.FAILED, str(exc))
        yield protocol.error(str(exc))
        yield protocol.answer_end(message_id=message.pk, status=Message.Status.FAILED, answer=turn.answer)
    except (asyncio.CancelledError, GeneratorExit):  # stopped by the person, or the socket went: keep what was shown
        await _store_unless_stored(turn, Message.Status.STOPPED, "")
        raise
    except BaseException as exc:
        await _store_unless_stored(turn, Message.Status.FAILED, f"{type(exc).__name__}: {exc}"[:500])
        raise


async def _prepare(
    turn: Turn,
    question: str,
    searched: str,
    backend: Backend,
    today: date | None,
    options: SearchOptions | None,
    mode: str,
) -> tuple["Gate", bool]:
    """Passages and the sentences that answer; whether the model writes."""
    found = await _find_passages(turn.user, searched, today=today or timezone.localdate(), options=options)
    turn.passages = prompting.fit_passages(
        searched, found.passages, context_tokens=backend.context_tokens, answer_tokens=settings.LLM_MAX_TOKENS
    )
    turn.disagreements = found.disagreements
    encode = embedding.encode_once_each(await _known_vectors(searched, turn.passages))
    focus = question if searched != question else ""
    answering = await _find_evidence(
        searched, AnswerPassages(turn.passages, found.disagreements, found.records), encode, focus
    )
    turn.evidence, turn.unanswered = answering.evidence, answering.unanswered
    parts = turn.evidence if answering.several else None
    # A question about oneself is answered from the asker's record, word for word: a model adds nothing to it.
    from_record = any(e.marker <= found.records for e in turn.evidence)
    generative = mode == GENERATIVE and bool(turn.evidence) and not from_record
    turn.message.backend = backend.name if generative else EXTRACTIVE_BACKEND if turn.evidence else ""
    return Gate(turn.passages, turn.evidence, encode=encode, parts=parts), generative


async def _stream(turn: Turn, searched: str, gate: Gate, backend: Backend | None) -> AsyncIterator[str]:
    """The shown text: a refusal, the documents' sentences, or the model's sentences that passed the gate."""
    started = time.monotonic()
    loop = asyncio.get_running_loop()

    def shown(piece: str) -> str:
        if not turn.answer:
            turn.message.time_to_first_token_ms = int((time.monotonic() - started) * 1000)
        piece = _joined(turn.answer, piece)
        turn.answer += piece
        return piece

    if not turn.evidence:
        yield shown(not_covered(turn.passages))
        return
    if backend is None:
        for sentence in _sentences_of(turn.evidence):
            yield shown(sentence)
        return
    stream = backend.stream(
        prompting.build_messages(searched, turn.passages),
        max_tokens=settings.LLM_MAX_TOKENS,
        stop=prompting.STOP_SEQUENCES,
    )

    async def check(sentence: str) -> str:
        return await loop.run_in_executor(_CHECKS, gate.check, sentence)

    async for sentence in gated(stream, check):
        yield shown(sentence)
    for sentence in gate.remaining() or gate.uncovered():
        yield shown(sentence)


async def _conclude(turn: Turn, gate: Gate) -> AsyncIterator[protocol.Frame]:
    """The product's notes, the citations checked against their passages, then the stored, complete answer."""
    added: list[str] = []  # the product's notes after the answer (disagreements, dates)
    if turn.evidence and (note := notes.disagreement_note(turn.disagreements, turn.passages)):
        turn.answer += note
        added.append(note)
        yield protocol.answer_delta(note)
    loop = asyncio.get_running_loop()
    resolved, support = await loop.run_in_executor(
        _CHECKS, _resolve_and_check, turn.answer, turn.passages, gate.encode if turn.evidence else None
    )
    if turn.evidence and (note := notes.unanswered_note(turn.unanswered)):  # the product's words: not checked
        resolved = dataclasses.replace(resolved, text=resolved.text + note)
        added.append(note)
        turn.message.incomplete = turn.unanswered
        yield protocol.answer_delta(note)
    if turn.evidence and (note := notes.dates_note(resolved.cited.values())):
        resolved = dataclasses.replace(resolved, text=resolved.text + note)
        added.append(note)
        turn.message.version_note = note.strip()
        yield protocol.answer_delta(note)
    citations = await _store(turn, Message.Status.COMPLETE, "", resolved, support)
    yield protocol.answer_citations(message_id=turn.message.pk, citations=citations)
    yield protocol.answer_end(
        message_id=turn.message.pk,
        status=Message.Status.COMPLETE,
        answer=resolved.text,
        support=support.as_json(),
        gate=gate.report.as_json(),
        notes=added,
        version_note=turn.message.version_note,
        incomplete=turn.message.incomplete,
    )
    whole = [p for p in turn.passages if not p.text.endswith(prompting.TRIM_MARK)]
    _remember_later(whole, gate.encode)


async def _store_unless_stored(turn: Turn, status: str, error: str) -> None:
    """After a failure (perhaps of the database itself, or of `_store`): a final status if one can be written."""
    if turn.stored:
        return
    try:
        await asyncio.shield(_store(turn, status, error))
    except DatabaseError:
        logger.exception("Message %s left without its final status", turn.message.pk)


async def _store(
    turn: Turn,
    status: str,
    error: str,
    resolved: ResolvedAnswer | None = None,
    support: SupportReport | None = None,
) -> list[protocol.Citation]:
    """The final status, the citations and the audit entry, in one transaction, once per answer."""
    resolved = resolved or resolve_citations(turn.answer, turn.passages)
    citations = await database_sync_to_async(_finish)(
        turn.user, turn.message, turn.passages, resolved, status, error, support
    )
    turn.stored = True
    return citations


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


def _passages_for(user, searched: str, *, today: date, options: SearchOptions | None) -> AnswerPassages:
    options = options or SearchOptions.from_settings()
    oneself = personal.about_oneself(searched)
    return retrieval.passages_for_answer(user, searched, today=today, options=options, about_oneself=oneself)


_find_passages = database_sync_to_async(_passages_for, thread_sensitive=False, executor=_SEARCHES)


def _known(question: str, passages: list[Passage]) -> dict[str, np.ndarray]:
    """The vectors this answer need not encode: the question's (the search's, when the base
    model searches) and its passages' stored ones."""
    return {**passage_vectors.known(passages), question: embedding.question_vector(question)}


_known_vectors = database_sync_to_async(_known, thread_sensitive=False, executor=_SEARCHES)


def _remember_later(passages: list[Passage], encode) -> None:
    """After answer.end, queued on the checks' thread (the socket takes the next question at
    once): later answers that use these passages read their vectors."""

    def remember() -> None:
        close_old_connections()
        try:
            passage_vectors.remember(passages, encode)
        except Exception:
            logger.exception("Passage vectors not stored")
        finally:
            close_old_connections()

    _CHECKS.submit(remember)


@dataclass(frozen=True)
class Answering:
    """The sentences that answer, and the parts of the question the documents found do not answer."""

    evidence: list[Evidence]
    unanswered: list[str] = dataclasses.field(default_factory=list)
    several: bool = False  # each sentence answers a part of its own, so a model's answer must cover each


def evidence_for(question: str, found: AnswerPassages, encode, focus: str = "") -> Answering:
    """From the asker's own record first (the fields asked for, in the second person, dated), then
    for each part of the question its own best policy sentence, in the question's order.

    A part no sentence answers is named in `unanswered`; a part that leans on another ("is it
    paid?") is unanswered when that one is; a part a sentence already chosen answers about as well
    as its own best adds nothing. One part: the best sentence and one close to it.
    """
    records, general = found.passages[: found.records], found.passages[found.records :]
    shift = len(records)
    parts = [coverage.Part(focus, question)] if focus else coverage.question_parts(question)
    chosen: list[Evidence] = []
    from_record: set[int] = set()
    if records and (mine := _from_record(question, focus, records, encode, parts)):
        evidence, from_record = mine
        chosen.append(evidence)
    prefer = figures.figures(chosen[0].text) if chosen else None
    unanswered: list[str] = []
    answered: list[bool] = []
    for index, part in enumerate(parts):
        if part.leans and answered and not answered[0]:
            answered.append(False)
            unanswered.append(part.asked)
            continue
        ranked = extraction.rank_evidence(part.query, general, encode=encode, focus=focus, prefer=prefer)
        floor = extraction.evidence_floor(part.query)
        got = extraction.find_evidence_in(ranked, floor)
        answered.append(bool(got) or index in from_record)
        if not got:
            if not part.condition and index not in from_record:
                unanswered.append(part.asked)
            continue
        shifted = [dataclasses.replace(e, marker=e.marker + shift) for e in got]
        if len(parts) == 1:  # the best sentence, one close to it; after a record's line, the best rule
            chosen += [e for e in shifted if not _already(e, chosen)][: 1 if chosen else None]
        elif not (part.leans and _answered_by(chosen, ranked, shift, got[0].score)) and not _already(
            shifted[0], chosen
        ):
            chosen.append(shifted[0])
    if not chosen:
        return Answering([])
    return Answering(chosen, unanswered, several=len(parts) > 1)


def _from_record(question: str, focus: str, records: list[Passage], encode, parts) -> tuple[Evidence, set[int]] | None:
    """The record's fields the question asks for ("get" is the entitlement, "left" the remainder),
    as one sentence to the asker; else the record line most like the question, if one answers.
    Returns it with the parts it answers."""
    record = records[0]
    fields = personal.record_fields(record.text)
    asked = {i: personal.asked_intents(p.asked) for i, p in enumerate(parts)}  # a follow-up's one part: `focus`
    wanted = personal.fields_for(fields, [intent for i in sorted(asked) for intent in asked[i]])
    if wanted:
        evidence = Evidence(1, wanted[0].start, wanted[-1].end, personal.in_second_person(wanted, record), 1.0, 1.0)
        return evidence, {i for i, intents in asked.items() if intents}
    lines = [e for e in extraction.find_evidence(question, records, encode=encode, focus=focus) if _one_field(e)]
    if not lines:
        return None
    best = lines[0]
    line = personal.record_fields(f"- {best.text.strip().lstrip('-*• ')}")
    text = personal.in_second_person(line, records[best.marker - 1]) if line else best.text
    return dataclasses.replace(best, text=text), set()


def _answered_by(chosen: list[Evidence], ranked: list[Evidence], shift: int, best: float) -> bool:
    """A sentence already in the answer scores for this part nearly as well as the part's own best."""
    return any(
        _already(dataclasses.replace(e, marker=e.marker + shift), chosen)
        for e in ranked
        if e.score >= best - extraction.EVIDENCE_MARGIN
    )


def _one_field(evidence: Evidence) -> bool:
    """A single "Label: value" line of a record, never its heading or the whole list."""
    return "\n" not in evidence.text.strip() and bool(personal.record_fields(f"- {evidence.text.strip()}"))


def _already(evidence: Evidence, chosen: list[Evidence]) -> bool:
    return any(
        (c.marker == evidence.marker and c.start <= evidence.start and evidence.end <= c.end)
        or extraction.same_text(c.text, evidence.text)
        for c in chosen
    )


async def _find_evidence(question: str, found: AnswerPassages, encode, focus: str) -> Answering:
    return await asyncio.get_running_loop().run_in_executor(_SEARCHES, evidence_for, question, found, encode, focus)


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
) -> list[protocol.Citation]:
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
        protocol.citation(marker, passage, support.highlights.get(marker, []))
        for marker, passage in resolved.cited.items()
    ]
