"""`POST /api/ask`: the chat page's answer for any tool, as JSON or as Server-Sent Events.

The same pipeline as the page's socket (`chat.answering.answer_events`: the same permission
filter, checks, stored message and audit entry), so a bot and the page give one answer. JSON
gathers its frames into one object; `Accept: text/event-stream` sends the frames as they come,
each an event named after its type, then `answer.final` with that same object.
"""

import json
import logging
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from chat import protocol
from chat.answering import answer_events
from chat.export import warnings_for
from chat.generation import get_backend
from chat.models import Conversation, Message
from knowledge.tokens import bearer_token
from ragsite.api_errors import ApiError
from ragsite.limits import allowed

logger = logging.getLogger(__name__)
FIELDS = {"question", "conversation_id"}


@csrf_exempt  # a bearer token, never a cookie: nothing a page on another site could send for someone
async def api_ask(request: HttpRequest) -> HttpResponse:
    try:
        user = await token_user(request)
        question = _question(request)
        await within_limit(request)
        if question.conversation_id is not None and not await _owns(user, question.conversation_id):
            raise ApiError(404, "conversation_not_found", "That conversation does not exist.")
    except ApiError as exc:
        return exc.response()
    frames = answer_events(
        user=user, question=question.text, conversation_id=question.conversation_id, backend=get_backend()
    )
    if "text/event-stream" in request.headers.get("Accept", ""):
        response = StreamingHttpResponse(_events(frames), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # a proxy in front must pass each event on at once
        return response
    try:
        collected = [frame async for frame in frames]
    except DatabaseError:
        logger.exception("Answer API: database unavailable")
        return ApiError(503, "database_unavailable", "The database is unavailable; ask again in a moment.").response()
    return JsonResponse(await final(collected))


async def token_user(request: HttpRequest):
    """The token's owner; the token is kept on the request for its own rate limit."""
    token = await sync_to_async(bearer_token)(request, "ask")
    request.api_token = token
    return token.user


async def within_limit(request: HttpRequest) -> None:
    """Each token has its own questions per minute (API_ASKS_PER_MINUTE), so one busy bot slows only itself."""
    if not await allowed("api-ask", str(request.api_token.pk), settings.API_ASKS_PER_MINUTE):
        raise ApiError(429, "rate_limited", "This token asked too often this minute; wait and ask again.", 60)


def _question(request: HttpRequest) -> protocol.Question:
    if request.content_type != "application/json":
        raise ApiError(415, "json_required", "Send the question as JSON (Content-Type: application/json).")
    limit = settings.CHAT_MAX_QUESTION_CHARS
    if len(request.body) > limit * 6 + 200:  # the longest question, every character escaped
        raise ApiError(413, "too_large", f"The request is too large; questions may have at most {limit} characters.")
    try:
        body = json.loads(request.body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "not_utf8", "The request body is not UTF-8.") from None
    except json.JSONDecodeError:
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "not_an_object", 'Send a JSON object: {"question": "…"}.')
    if unknown := set(body) - FIELDS:
        raise ApiError(
            400, "unknown_field", f"Unknown field {sorted(unknown)[0]!r}; send question and conversation_id."
        )
    try:
        return protocol.question_from(body.get("question"), body.get("conversation_id"), max_chars=limit)
    except protocol.ProtocolError as exc:
        raise ApiError(400, "bad_question", str(exc)) from None


@sync_to_async
def _owns(user, conversation_id: int) -> bool:
    return Conversation.objects.filter(pk=conversation_id, user=user).exists()


async def _events(frames: AsyncIterator[protocol.Frame]) -> AsyncIterator[str]:
    collected = []
    async for frame in frames:
        collected.append(frame)
        yield _event(frame["type"], frame)
    yield _event("answer.final", await final(collected))


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def final(frames: list[protocol.Frame]) -> dict:
    """The frames of one answer as one object: what the page shows, warnings in its words."""
    start = next((f for f in frames if f["type"] == "answer.start"), {})
    end = next((f for f in frames if f["type"] == "answer.end"), {})
    citations = next((f["citations"] for f in frames if f["type"] == "answer.citations"), [])
    errors = [f["message"] for f in frames if f["type"] == "error"]
    message_id = end.get("message_id") or start.get("message_id")
    made_by = await Message.objects.filter(pk=message_id).values_list("backend", flat=True).afirst()
    status = end.get("status", "failed")
    return {
        "conversation_id": start.get("conversation_id"),
        "message_id": message_id,
        "status": status,
        "answer": end.get("answer", ""),
        "covered": bool(made_by),
        "searched_for": start.get("standalone_question", ""),
        "citations": citations,
        "warnings": warnings_for(
            answer=end.get("answer", ""),
            status=status,
            support=end.get("support", []),
            cited=len(citations),
            incomplete=end.get("incomplete", []),
        ),
        "incomplete": end.get("incomplete", []),
        "version_note": end.get("version_note", ""),
        "support": end.get("support", []),
        "error": errors[0] if errors else "",
    }
