"""The websocket wire protocol: every frame's shape is defined here and nowhere else.

Client -> server:
  question          {text: str, conversation_id: int | null}
  stop              {}

Server -> client, for one question, in this order:
  answer.start      {conversation_id, message_id, title, standalone_question}
  answer.delta      {text}                      zero or more: shown text, a checked sentence or note at a time
  answer.citations  {message_id, citations}     complete answers only; each citation is a `Citation`
  answer.end        {message_id, status, answer, support, gate, notes, version_note, incomplete,
                     incomplete_warning}
                    status "complete", "stopped" or "failed"; support, gate, notes and version_note
                    only when complete; version_note is the note of `notes` that says when the cited
                    versions apply (the page shows it under the sources), or ""
  error             {message}                   in words for the person; at any time (a failed answer
                                                sends it before its answer.end; a refused frame alone)

The page's script (chat/static/chat/chat.js) reads these names. `validate` checks a frame
against its TypedDict, so a test can assert that everything the consumer sends is one of these.
"""

import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

from chat.citations import passage_url, section_of
from chat.notes import incomplete_warning
from knowledge.retrieval import Passage
from ragsite.storable import unstorable_reason


class ProtocolError(Exception):
    """The frame cannot be used; the message is sent back in an `error` event."""


@dataclass(frozen=True)
class Question:
    text: str
    conversation_id: int | None


@dataclass(frozen=True)
class Stop:
    pass


def parse_frame(raw: str | None, *, max_chars: int) -> Question | Stop:
    if raw is None:
        raise ProtocolError("Send JSON text frames, not binary ones.")
    if len(raw) > max_chars * 2 + 200:
        raise ProtocolError(f"The message is too long; questions may have at most {max_chars} characters.")
    try:
        frame = json.loads(raw)
    except json.JSONDecodeError:
        raise ProtocolError("The message is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise ProtocolError("The message must be a JSON object with a 'type'.")
    kind = frame.get("type")
    if kind == "stop":
        return Stop()
    if kind != "question":
        raise ProtocolError("Unknown message type; expected 'question' or 'stop'.")
    return question_from(frame.get("text"), frame.get("conversation_id"), max_chars=max_chars)


def question_from(text: Any, conversation_id: Any, *, max_chars: int) -> Question:
    """A question as the page's socket and the answer API take it: text within the limit, one
    PostgreSQL can store, and a conversation id that is a number or absent."""
    if not isinstance(text, str) or not text.strip():
        raise ProtocolError("The question is empty.")
    if len(text) > max_chars:
        raise ProtocolError(f"The question is too long; use at most {max_chars} characters.")
    if reason := unstorable_reason(text):
        raise ProtocolError(reason)
    if conversation_id is not None and (isinstance(conversation_id, bool) or not isinstance(conversation_id, int)):
        raise ProtocolError("'conversation_id' must be a number or null.")
    return Question(text=text.strip(), conversation_id=conversation_id)


Status = Literal["complete", "stopped", "failed"]


class Citation(TypedDict):
    marker: int
    chunk_id: int | None
    document_id: int
    document_title: str
    heading_path: str  # without a first heading that repeats the title
    page: int | None
    text: str
    highlights: list[list[int]]  # [start, end) character spans of `text` the answer relies on
    url: str
    version: str  # "" or a label such as "In force since 1 January 2026"
    version_state: str


class AnswerStart(TypedDict):
    type: Literal["answer.start"]
    conversation_id: int
    message_id: int
    title: str
    standalone_question: str


class AnswerDelta(TypedDict):
    type: Literal["answer.delta"]
    text: str


class AnswerCitations(TypedDict):
    type: Literal["answer.citations"]
    message_id: int
    citations: list[Citation]


class AnswerEnd(TypedDict):
    type: Literal["answer.end"]
    message_id: int | None  # None only when the answer stopped before it was stored
    status: Status
    answer: str
    support: NotRequired[list[dict[str, Any]]]
    gate: NotRequired[dict[str, Any]]
    notes: NotRequired[list[str]]
    version_note: NotRequired[str]
    incomplete: NotRequired[list[str]]
    incomplete_warning: NotRequired[str]


class Error(TypedDict):
    type: Literal["error"]
    message: str


Frame = AnswerStart | AnswerDelta | AnswerCitations | AnswerEnd | Error


def answer_start(*, conversation_id: int, message_id: int, title: str, standalone_question: str) -> AnswerStart:
    return {
        "type": "answer.start",
        "conversation_id": conversation_id,
        "message_id": message_id,
        "title": title,
        "standalone_question": standalone_question,
    }


def answer_delta(text: str) -> AnswerDelta:
    return {"type": "answer.delta", "text": text}


def answer_citations(*, message_id: int, citations: list[Citation]) -> AnswerCitations:
    return {"type": "answer.citations", "message_id": message_id, "citations": citations}


def answer_end(
    *,
    message_id: int | None,
    status: Status,
    answer: str = "",
    support: list[dict[str, Any]] | None = None,
    gate: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    version_note: str | None = None,
    incomplete: list[str] | None = None,
) -> AnswerEnd:
    frame: AnswerEnd = {"type": "answer.end", "message_id": message_id, "status": status, "answer": answer}
    if support is not None:
        frame["support"] = support
    if gate is not None:
        frame["gate"] = gate
    if notes is not None:
        frame["notes"] = notes
    if version_note is not None:
        frame["version_note"] = version_note
    if incomplete is not None:
        frame["incomplete"] = incomplete
        frame["incomplete_warning"] = incomplete_warning(incomplete)
    return frame


def error(message: str) -> Error:
    return {"type": "error", "message": message}


def citation(marker: int, passage: Passage, highlights: list[tuple[int, int]]) -> Citation:
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


FRAMES: dict[str, type] = {
    "answer.start": AnswerStart,
    "answer.delta": AnswerDelta,
    "answer.citations": AnswerCitations,
    "answer.end": AnswerEnd,
    "error": Error,
}


def validate(frame: Any) -> None:
    """Raises ValueError unless `frame` (as decoded from JSON) is one of the frames above."""
    if not isinstance(frame, dict) or frame.get("type") not in FRAMES:
        raise ValueError(f"not a server frame: {frame!r}"[:300])
    _check(frame, FRAMES[frame["type"]], frame["type"])


def _check(value: Any, hint: Any, where: str) -> None:
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object")
        hints = typing.get_type_hints(hint)
        unknown = set(value) - set(hints)
        missing = hint.__required_keys__ - set(value)
        if unknown or missing:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}, missing {sorted(missing)}")
        for key, item in value.items():
            _check(item, hints[key], f"{where}.{key}")
        return
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return _check(value, option, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(f"{where}: none of {args} ({'; '.join(errors)})")
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{where}: {value!r} is not one of {args}")
        return
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list")
        for index, item in enumerate(value):
            _check(item, args[0], f"{where}[{index}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object")
        return
    if hint is Any:
        return
    if hint is type(None):
        if value is not None:
            raise ValueError(f"{where}: expected null")
        return
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ValueError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
