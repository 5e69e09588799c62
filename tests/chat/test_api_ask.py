"""`POST /api/ask`: the page's answer for any tool, through the real Daphne server; bad input and
other people's data refused with a JSON error that changes nothing."""

import json
from datetime import timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import AsyncClient
from django.utils import timezone

from chat.models import Conversation, Message
from knowledge.models import ApiToken
from knowledge.tokens import token_create
from tests.sockets import ask, connect

pytestmark = pytest.mark.django_db(transaction=True)

LEAVE = (
    "# Leave\n\n## Entitlement\n\nFull-time employees receive 25 days of paid annual leave per calendar year. "
    "After five years of continuous service the entitlement rises to 27 days.\n\n"
    "## Sick leave\n\nYou may self-certify absences of up to 7 calendar days. For an absence longer than 7 calendar "
    "days you must provide a doctor's note covering the whole period from the eighth day."
)
GUIDE = "# Managers' guide\n\n## Salary bands\n\nGrade C3 earns 46,000 to 58,000 EUR a year."


def post(server, token: str, body, *, stream: bool = False) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream" if stream else "application/json"}
    return httpx.post(f"{server.url}/api/ask", json=body, headers=headers, timeout=120)


def sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_json_and_events_give_the_page_s_answer_with_its_checked_citations(people, ingest, api_server):
    ingest("leave.md", LEAVE)
    token = token_create(user=people.bob, name="bot")
    question = "Do I need a doctor's note, and from which day?"
    answer = post(api_server, token, {"question": question})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "complete" and body["covered"] is True
    assert "from the eighth day [1]" in body["answer"]
    assert body["citations"][0]["document_title"] == "Leave" and body["citations"][0]["url"].startswith("/documents/")
    assert body["warnings"] == [] and all(s["verdict"] == "supported" for s in body["support"])

    streamed = post(api_server, token, {"question": question}, stream=True)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = sse(streamed.text)
    names = [name for name, _ in events]
    assert names[0] == "answer.start" and names[-2:] == ["answer.end", "answer.final"] and "answer.citations" in names
    final = events[-1][1]
    assert final["answer"] == body["answer"] and final["citations"][0]["chunk_id"] == body["citations"][0]["chunk_id"]
    assert Message.objects.filter(conversation__user=people.bob).count() == 2, "stored like the page's answers"

    async def over_the_socket() -> dict:
        communicator = await connect(people.bob)
        frames = await ask(communicator, question)
        await communicator.disconnect()
        return frames[-1]

    from asgiref.sync import async_to_sync

    assert async_to_sync(over_the_socket)()["answer"] == body["answer"], "one code path: the page's answer"


def test_a_follow_up_continues_the_conversation_and_a_partial_answer_says_so(people, ingest, api_server):
    ingest("leave.md", LEAVE)
    token = token_create(user=people.bob)
    first = post(api_server, token, {"question": "How many days of annual leave do full-time employees get?"}).json()
    follow = post(api_server, token, {"question": "and after five years?", "conversation_id": first["conversation_id"]})
    assert follow.json()["conversation_id"] == first["conversation_id"]
    assert "27 days" in follow.json()["answer"]
    partial = post(
        api_server, token, {"question": "Do I need a doctor's note after two days, and do I get a company car?"}
    )
    assert partial.json()["incomplete"] == ["do I get a company car?"]
    assert partial.json()["warnings"][-1].startswith("This answer may be incomplete")


def test_nothing_of_a_document_the_token_s_owner_may_not_read(people, ingest, api_server):
    ingest("leave.md", LEAVE)
    guide = ingest("guide.md", GUIDE, groups=[people.managers])
    token = token_create(user=people.bob)
    body = post(api_server, token, {"question": "How much does grade C3 earn?"}).json()
    text = json.dumps(body)
    assert "46,000" not in text and "Salary bands" not in text and "Managers" not in text
    assert all(c["document_id"] != guide.pk for c in body["citations"])
    alice = post(api_server, token_create(user=people.alice), {"question": "How much does grade C3 earn?"}).json()
    assert "46,000" in alice["answer"], "the same question answers for someone who may read it"


async def call(body, *, token: str | None = None, content_type="application/json", method="post", raw=None):
    client = AsyncClient()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else json.dumps(body)
    if method == "get":
        return await client.get("/api/ask", headers=headers)
    return await client.post("/api/ask", data=data, content_type=content_type, headers=headers)


@pytest.mark.asyncio
async def test_bad_requests_get_a_json_error_with_a_code_and_change_nothing(people):
    token = await sync_to_async(token_create)(user=people.bob)
    search_only = await sync_to_async(token_create)(user=people.bob, scopes=["search"])
    expired = await sync_to_async(token_create)(user=people.bob, expires_at=timezone.now() - timedelta(seconds=1))
    alices = await Conversation.objects.acreate(user=people.alice, title="mine")
    cases = [
        (await call({"question": "q?"}), 401, "token_required"),
        (await call({"question": "q?"}, token="rag_nope"), 401, "token_invalid"),
        (await call({"question": "q?"}, token=expired), 401, "token_invalid"),
        (await call({"question": "q?"}, token=search_only), 403, "scope_missing"),
        (await call(None, token=token, content_type="text/plain", raw="q?"), 415, "json_required"),
        (await call(None, token=token, raw="{not json"), 400, "malformed_json"),
        (await call(None, token=token, raw=b"\xff\xfe{}"), 400, "not_utf8"),
        (await call(["q?"], token=token), 400, "not_an_object"),
        (await call({"question": "q?", "user": "alice"}, token=token), 400, "unknown_field"),
        (await call({"question": "   "}, token=token), 400, "bad_question"),
        (await call({"question": "x" * (settings.CHAT_MAX_QUESTION_CHARS + 1)}, token=token), 400, "bad_question"),
        (await call({"question": "x" * 20_000}, token=token), 413, "too_large"),
        (await call({"question": "q\x00?"}, token=token), 400, "bad_question"),
        (await call({"question": "q?", "conversation_id": "1"}, token=token), 400, "bad_question"),
        (await call({"question": "q?", "conversation_id": alices.pk}, token=token), 404, "conversation_not_found"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code), response.content
        assert response.json()["error"]
    wrong_method = await call({"question": "q?"}, token=token, method="get")
    assert wrong_method.status_code == 405 and wrong_method["Allow"] == "POST"
    assert not await Message.objects.aexists(), "no bad request made an answer"
    await sync_to_async(people.bob.__class__.objects.filter(pk=people.bob.pk).update)(is_active=False)
    assert (await call({"question": "q?"}, token=token)).status_code == 401, "a deactivated person's token stops"


def test_tokens_have_scopes_and_the_search_api_honours_them(people, client):
    ask_only = token_create(user=people.bob, scopes=["ask"])
    response = client.get("/api/search?q=leave", headers={"Authorization": f"Bearer {ask_only}"})
    assert response.status_code == 403 and "may not search" in response.json()["error"]
    with pytest.raises(ValueError, match="Unknown scope"):
        token_create(user=people.bob, scopes=["admin"])
    assert ApiToken.objects.filter(user=people.bob).count() == 1


def test_the_official_openai_client_gets_the_answer_with_its_citations(people, ingest, api_server):
    import openai

    ingest("leave.md", LEAVE)
    client = openai.OpenAI(base_url=f"{api_server.url}/v1", api_key=token_create(user=people.bob), max_retries=0)
    assert [m.id for m in client.models.list()] == ["ask-the-handbook"]
    question = "Do I need a doctor's note, and from which day?"
    reply = client.chat.completions.create(model="ask-the-handbook", messages=[{"role": "user", "content": question}])
    content = reply.choices[0].message.content
    assert "from the eighth day [1]" in content and "\n\nSources:\n[1] Leave › Sick leave" in content
    extra = reply.model_extra
    assert extra["citations"][0]["document_title"] == "Leave" and extra["warnings"] == []

    streamed = client.chat.completions.create(
        model="ask-the-handbook", messages=[{"role": "user", "content": question}], stream=True
    )
    chunks = list(streamed)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == content, "streamed, the same message"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["citations"]

    follow = client.chat.completions.create(
        model="ask-the-handbook",
        messages=[
            {"role": "user", "content": "How many days of annual leave do full-time employees get?"},
            {"role": "assistant", "content": "25 days."},
            {"role": "user", "content": "and after five years?"},
        ],
    )
    assert "27 days" in follow.choices[0].message.content, "the earlier user message makes the follow-up whole"


def test_the_openai_endpoint_refuses_in_openai_s_words(people, api_server):
    import openai

    client = openai.OpenAI(base_url=f"{api_server.url}/v1", api_key="rag_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="unknown, expired or revoked"):
        client.chat.completions.create(model="ask-the-handbook", messages=[{"role": "user", "content": "q?"}])
    client = openai.OpenAI(base_url=f"{api_server.url}/v1", api_key=token_create(user=people.bob), max_retries=0)
    for messages, match in [
        ([], "non-empty"),
        ([{"role": "assistant", "content": "hi"}], "last message must be the user's"),
        ([{"role": "wizard", "content": "hi"}], "role"),
        ([{"role": "user", "content": "  "}], "empty"),
        ([{"role": "user", "content": 42}], "content"),
    ]:
        with pytest.raises(openai.BadRequestError, match=match):
            client.chat.completions.create(model="ask-the-handbook", messages=messages)
    assert not Message.objects.exists()


@pytest.mark.asyncio
async def test_each_token_has_its_own_rate_limit(people, settings):
    settings.API_ASKS_PER_MINUTE = 2
    busy = await sync_to_async(token_create)(user=people.bob, name="busy bot")
    other = await sync_to_async(token_create)(user=people.bob, name="script")
    statuses = [(await call({"question": "Is there a gym?"}, token=busy)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = await call({"question": "Is there a gym?"}, token=busy)
    assert limited.json()["code"] == "rate_limited" and limited["Retry-After"] == "60"
    assert (await call({"question": "Is there a gym?"}, token=other)).status_code == 200, "another token is not slowed"


def test_the_openai_endpoint_shows_nothing_of_a_document_the_token_s_owner_may_not_read(people, ingest, api_server):
    import openai

    ingest("leave.md", LEAVE)
    guide = ingest("guide.md", GUIDE, groups=[people.managers])
    client = openai.OpenAI(base_url=f"{api_server.url}/v1", api_key=token_create(user=people.bob), max_retries=0)
    messages = [{"role": "user", "content": "How much does grade C3 earn?"}]
    reply = client.chat.completions.create(model="ask-the-handbook", messages=messages)
    streamed = list(client.chat.completions.create(model="ask-the-handbook", messages=messages, stream=True))
    said = reply.model_dump_json() + "".join(c.model_dump_json() for c in streamed)
    assert "46,000" not in said and "Salary bands" not in said and "Managers" not in said
    assert all(c["document_id"] != guide.pk for c in reply.model_extra["citations"])
    alice = openai.OpenAI(base_url=f"{api_server.url}/v1", api_key=token_create(user=people.alice), max_retries=0)
    allowed = alice.chat.completions.create(model="ask-the-handbook", messages=messages)
    assert "46,000" in allowed.choices[0].message.content, "the same question answers for someone who may read it"
