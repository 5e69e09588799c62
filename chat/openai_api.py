"""`POST /v1/chat/completions` and `GET /v1/models` in the OpenAI protocol, so that the official
`openai` client, and the tools built on it, ask the handbook unchanged.

The answer is the page's (`chat.answering.answer_events`, through `chat.api`'s checks): the
last user message is the question, the user message before it makes a follow-up standalone.
Citations travel in the message (its markers and a "Sources:" list) and, for clients that read
them, in `citations` and `warnings` beside `choices`, which OpenAI clients ignore.
"""

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from ninja import Schema
from pydantic import ConfigDict

from chat import protocol
from chat.answering import answer_events
from chat.api import final, token_user, within_limit
from chat.generation import get_backend
from ragsite.api_errors import ApiError

MODEL = "ask-the-handbook"


class ChatCompletionIn(Schema):
    """For the schema: OpenAI clients send more fields (temperature, …), which are ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = MODEL
    messages: list[dict[str, Any]]
    stream: bool = False


_ROLES = {"system", "developer", "user", "assistant", "tool"}


@csrf_exempt
async def models(request: HttpRequest) -> HttpResponse:
    try:
        await token_user(request)
    except ApiError as exc:
        return _error(exc)
    return JsonResponse(
        {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "ask-the-handbook"}]}
    )


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    try:
        user = await token_user(request)
        body = _body(request)
        question, earlier = _question(body)
        await within_limit(request)
    except ApiError as exc:
        return _error(exc)
    frames = answer_events(
        user=user, question=question.text, conversation_id=None, backend=get_backend(), earlier=earlier
    )
    created = int(time.time())
    if body.get("stream") is True:
        response = StreamingHttpResponse(_chunks(frames, created), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    answer = await final([frame async for frame in frames])
    return JsonResponse(
        {
            "id": f"chatcmpl-{answer['message_id']}",
            "object": "chat.completion",
            "created": created,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer["answer"] + sources_text(answer["citations"])},
                    "finish_reason": "stop" if answer["status"] == "complete" else "length",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            **_extra(answer),
        }
    )


def _body(request: HttpRequest) -> dict:
    if request.content_type != "application/json":
        raise ApiError(415, "json_required", "Send the request as JSON (Content-Type: application/json).")
    if len(request.body) > settings.CHAT_MAX_QUESTION_CHARS * 60 + 10_000:
        raise ApiError(413, "too_large", "The request is too large.")
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "malformed_json", "The request body is not valid UTF-8 JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "not_an_object", "Send a JSON object with 'model' and 'messages'.")
    return body


def _question(body: dict) -> tuple[protocol.Question, str | None]:
    """The last user message, and the user message before it (what a follow-up leans on)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "bad_messages", "'messages' must be a non-empty list.")
    said = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise ApiError(400, "bad_messages", "Each message needs a 'role' (system, user, assistant, …).")
        said.append((message["role"], _text(message.get("content"))))
    asked = [text for role, text in said if role == "user"]
    if said[-1][0] != "user" or not asked:
        raise ApiError(400, "bad_messages", "The last message must be the user's question.")
    try:
        question = protocol.question_from(asked[-1], None, max_chars=settings.CHAT_MAX_QUESTION_CHARS)
    except protocol.ProtocolError as exc:
        raise ApiError(400, "bad_question", str(exc)) from None
    return question, (asked[-2] if len(asked) > 1 else None)


def _text(content) -> str:
    """A message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        return "".join(p.get("text", "") for p in content if p.get("type") == "text" and isinstance(p.get("text"), str))
    if content is None:
        return ""
    raise ApiError(400, "bad_messages", "A message's 'content' must be text or a list of text parts.")


def sources_text(citations: list[dict]) -> str:
    """The sources under the answer, for a client that shows only the message."""
    if not citations:
        return ""
    lines = []
    for c in citations:
        where = " › ".join(p for p in [c["document_title"], c["heading_path"]] if p)
        page = f", page {c['page']}" if c.get("page") else ""
        lines.append(f"[{c['marker']}] {where}{page} ({c['url']})")
    return "\n\nSources:\n" + "\n".join(lines)


def _extra(answer: dict) -> dict:
    return {
        "citations": answer["citations"],
        "warnings": answer["warnings"],
        "incomplete": answer["incomplete"],
        "conversation_id": answer["conversation_id"],
        "answer_url": reverse("chat:conversation", args=[answer["conversation_id"]])
        if answer["conversation_id"]
        else "",
    }


async def _chunks(frames: AsyncIterator[protocol.Frame], created: int) -> AsyncIterator[str]:
    """The answer's text as it is shown, a chunk each; the sources and the extra fields in the last one."""
    collected: list[protocol.Frame] = []
    identity = "chatcmpl-0"

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {"id": identity, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}  # fmt: skip
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    async for frame in frames:
        collected.append(frame)
        if frame["type"] == "answer.start":
            identity = f"chatcmpl-{frame['message_id']}"
            yield chunk({"role": "assistant", "content": ""})
        elif frame["type"] == "answer.delta":
            yield chunk({"content": frame["text"]})
    answer = await final(collected)
    finish = "stop" if answer["status"] == "complete" else "length"
    yield chunk({"content": sources_text(answer["citations"])}, finish, **_extra(answer))
    yield "data: [DONE]\n\n"


def _error(exc: ApiError) -> JsonResponse:
    """OpenAI's error shape, so its client raises the matching exception with our sentence."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    kind = "invalid_request_error" if exc.status < 500 else "api_error"
    return JsonResponse(
        {"error": {"message": str(exc), "type": kind, "code": exc.code, "param": None}},
        status=exc.status,
        headers=headers,
    )
