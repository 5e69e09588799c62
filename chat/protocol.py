"""The websocket wire protocol, the only shape the page's script speaks.

Client -> server: {"type": "question", "text": str, "conversation_id": int | null}
                  {"type": "stop"}
Server -> client: answer.start, answer.delta, answer.citations, answer.end, error.
"""

import json
from dataclasses import dataclass
from typing import Any

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
    text = frame.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ProtocolError("The question is empty.")
    if len(text) > max_chars:
        raise ProtocolError(f"The question is too long; use at most {max_chars} characters.")
    if reason := unstorable_reason(text):
        raise ProtocolError(reason)
    conversation_id = frame.get("conversation_id")
    if conversation_id is not None and (isinstance(conversation_id, bool) or not isinstance(conversation_id, int)):
        raise ProtocolError("'conversation_id' must be a number or null.")
    return Question(text=text.strip(), conversation_id=conversation_id)


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, **data}


def error_event(message: str) -> dict[str, Any]:
    return event("error", message=message)
