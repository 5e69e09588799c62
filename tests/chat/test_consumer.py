import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator

from chat.models import Citation, Conversation, Message
from ragsite.asgi import application
from tests.sockets import EVENT_WAIT_S, ask, connect, session_headers

LEAVE = "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per year."
PAY = "# Pay\n\n## Salary bands\n\nGrade C3 earns 46,000 to 58,000 EUR. Managers get 25 days of annual leave."

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_anonymous_connection_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"origin", b"http://localhost")])
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example",
        b"http://localhost:9999",  # another program on the same machine
        b"https://localhost",  # another scheme is another origin
        b"http://localhost.evil.example",
        b"null",
        b"",
    ],
)
async def test_cross_origin_connection_is_refused(people, origin):
    from asgiref.sync import sync_to_async

    headers = await sync_to_async(session_headers)(people.bob, origin)
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected


async def test_origin_must_match_the_host_the_socket_was_opened_on_or_be_trusted(people, settings):
    from asgiref.sync import sync_to_async

    async def opens(origin: bytes, host: bytes) -> bool:
        headers = await sync_to_async(session_headers)(people.bob, origin)
        headers = [h for h in headers if h[0] != b"host"] + [(b"host", host)]
        communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert await opens(b"http://localhost:8000", b"localhost:8000")
    assert await opens(b"http://localhost:80", b"localhost"), "a default port is the same origin"
    assert not await opens(b"http://localhost:8000", b"localhost:8001")
    assert not await opens(b"http://evil.example", b"evil.example"), "the host must be an allowed one"
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com"]
    assert await opens(b"https://chat.example.com", b"127.0.0.1:8000"), "a trusted origin behind a proxy"
    assert not await opens(b"http://chat.example.com", b"127.0.0.1:8000")


async def test_question_streams_tokens_then_citations_of_real_chunks(people, ingest, llm_settings):
    from asgiref.sync import sync_to_async

    document = await sync_to_async(ingest)("leave.md", LEAVE)
    communicator = await connect(people.bob)
    events = await ask(communicator, "How many days of annual leave do I get?")
    kinds = [e["type"] for e in events]
    assert kinds[0] == "answer.start"
    assert kinds.count("answer.delta") == 1, "the model's words are shown a checked sentence at a time"
    assert kinds[-2:] == ["answer.citations", "answer.end"]
    citations = events[-2]["citations"]
    assert [c["marker"] for c in citations] == [1]
    chunk_ids = await sync_to_async(lambda: set(document.chunks.values_list("id", flat=True)))()
    assert citations[0]["chunk_id"] in chunk_ids
    assert citations[0]["heading_path"] == "Annual leave", "the title is not repeated"
    assert citations[0]["url"] == f"/documents/{document.pk}/#chunk-{citations[0]['chunk_id']}"
    assert citations[0]["document_title"] == "Leave"
    assert events[-1]["answer"] == "You get 25 days of annual leave [1]."
    message = await Message.objects.select_related("conversation").aget(pk=events[0]["message_id"])
    assert message.status == Message.Status.COMPLETE and message.answer == events[-1]["answer"]
    assert message.conversation.user_id == people.bob.pk
    assert await Citation.objects.filter(message=message, chunk_id=citations[0]["chunk_id"]).aexists()
    await communicator.disconnect()


async def test_restricted_passages_never_reach_the_model_or_the_socket(people, ingest, llm_settings):
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("leave.md", LEAVE)
    await sync_to_async(ingest)("pay.md", PAY, groups=[people.managers])
    llm_settings.tokens = ["Grade C3 earns 46,000 to 58,000 EUR ", "[2]."]
    communicator = await connect(people.bob)
    events = await ask(communicator, "How many days of annual leave do managers in grade C3 get?")
    prompt = json.dumps(llm_settings.requests[-1]["messages"])
    assert "Leave > Annual leave" in prompt
    assert "46,000" not in prompt and "Salary bands" not in prompt, "no restricted passage in the prompt"
    assert all("Pay" != c["document_title"] for e in events if e["type"] == "answer.citations" for c in e["citations"])
    assert events[-1]["answer"].count("[2]") == 0, "marker of a passage never given is removed"
    await communicator.disconnect()


async def test_question_with_nothing_readable_gets_a_plain_answer_without_the_model(people, ingest, llm_settings):
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("pay.md", PAY, groups=[people.managers])
    communicator = await connect(people.bob)
    events = await ask(communicator, "What does grade C3 earn?")
    assert "could not find" in "".join(e.get("text", "") for e in events)
    assert llm_settings.requests == []
    await communicator.disconnect()


async def test_unrelated_question_is_declined_without_calling_the_model(people, ingest, llm_settings):
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("leave.md", LEAVE)
    communicator = await connect(people.bob)
    events = await ask(communicator, "Who won the football match yesterday?")
    assert "could not find" in events[-1]["answer"]
    assert llm_settings.requests == []
    await communicator.disconnect()


async def test_acronym_found_only_by_full_text_search_reaches_the_model(people, ingest, llm_settings):
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("holidays.md", "# Public holidays\n\nWork on a holiday gives a day off in lieu (TOIL).")
    communicator = await connect(people.bob)
    await ask(communicator, "What is TOIL?")
    assert "day off in lieu (TOIL)" in json.dumps(llm_settings.requests[-1]["messages"])
    await communicator.disconnect()


async def test_malformed_frames_get_error_frames_and_the_socket_keeps_working(people, ingest, llm_settings):
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("leave.md", LEAVE)
    communicator = await connect(people.bob)
    for bad in [
        "{not json",
        json.dumps({"type": "question", "text": ""}),
        json.dumps({"type": "question", "text": "x" * 5000}),
        json.dumps({"type": "question", "text": "annual\x00leave"}),  # PostgreSQL refuses NUL in text
        '{"type": "question", "text": "leave \\ud800"}',  # a lone surrogate has no UTF-8 form
    ]:
        await communicator.send_to(text_data=bad)
        event = json.loads(await communicator.receive_from(timeout=EVENT_WAIT_S))
        assert event["type"] == "error" and event["message"]
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert json.loads(await communicator.receive_from(timeout=EVENT_WAIT_S))["type"] == "error"
    events = await ask(communicator, "How many days of annual leave?")
    assert events[-1]["type"] == "answer.end" and events[-1]["status"] == "complete"
    await communicator.disconnect()


async def test_cannot_write_into_another_users_conversation(people, llm_settings):
    theirs = await Conversation.objects.acreate(user=people.alice, title="Alice's")
    communicator = await connect(people.bob)
    events = await ask(communicator, "Hello?", conversation_id=theirs.pk)
    assert events == [{"type": "error", "message": "That conversation does not exist."}]
    assert not await Message.objects.filter(conversation=theirs).aexists()
    await communicator.disconnect()


async def test_backend_failure_is_reported_in_words_and_stored(people, ingest, llm_settings):
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("leave.md", LEAVE)
    llm_settings.status = 500
    communicator = await connect(people.bob)
    events = await ask(communicator, "How many days of annual leave?")
    assert {"type": "error", "message": "The language model server answered with an error (HTTP 500)."} in events
    assert events[-1]["status"] == "failed"
    assert await Message.objects.filter(status=Message.Status.FAILED).acount() == 1
    await communicator.disconnect()


async def test_stop_frame_ends_the_answer_and_keeps_what_was_said(people, ingest, llm_settings):
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("leave.md", LEAVE)
    llm_settings.tokens = [
        f"Full-time employees receive 25 days of paid annual leave per year [1]. {i}" for i in range(200)
    ]
    llm_settings.delay_s = 0.02
    communicator = await connect(people.bob)
    await communicator.send_to(text_data=json.dumps({"type": "question", "text": "How many days of annual leave?"}))
    start = json.loads(await communicator.receive_from(timeout=EVENT_WAIT_S))
    assert json.loads(await communicator.receive_from(timeout=EVENT_WAIT_S))["type"] == "answer.delta"
    await communicator.send_to(text_data=json.dumps({"type": "stop"}))
    events = []
    while not events or events[-1]["type"] != "answer.end":
        events.append(json.loads(await communicator.receive_from(timeout=EVENT_WAIT_S)))
    assert events[-1]["status"] == "stopped"
    message = await Message.objects.aget(pk=start["message_id"])
    assert message.status == Message.Status.STOPPED
    shown = "".join(e["text"] for e in events if e["type"] == "answer.delta")
    assert message.answer.startswith("Full-time employees receive 25 days")
    assert message.answer.count("25 days") < 200 and shown in message.answer
    await communicator.disconnect()


async def test_socket_survives_an_idle_pause_longer_than_the_channel_layer_poll(people, ingest, llm_settings):
    """redis-py 8 broke Channels' Redis layer after 5 idle seconds (redis/redis-py#4091)."""
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("leave.md", LEAVE)
    communicator = await connect(people.bob)
    await asyncio.sleep(6)
    events = await ask(communicator, "How many days of annual leave?")
    assert events[-1]["status"] == "complete"
    await communicator.disconnect()


async def test_a_flood_of_frames_is_rate_limited_per_user(people, settings, llm_settings):
    settings.CHAT_FRAMES_PER_MINUTE = 3
    communicator = await connect(people.bob)
    replies = []
    for _ in range(5):
        await communicator.send_to(text_data="{not json")
        replies.append(json.loads(await communicator.receive_from(timeout=EVENT_WAIT_S))["message"])
    assert replies[:3] == ["The message is not valid JSON."] * 3
    assert replies[3:] == ["You are sending messages too fast; wait a minute."] * 2
    other = await connect(people.alice)
    await other.send_to(text_data="{not json")
    assert json.loads(await other.receive_from(timeout=EVENT_WAIT_S))["message"] == "The message is not valid JSON."
    await communicator.disconnect()
    await other.disconnect()


async def test_follow_up_is_searched_as_a_standalone_question_and_shown(people, ingest, llm_settings):
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("leave.md", LEAVE + "\n\n## Part-time\n\nPart-time staff receive leave pro rata.")
    communicator = await connect(people.bob)
    first = await ask(communicator, "How many days of annual leave do full-time employees get?")
    conversation_id = first[0]["conversation_id"]
    follow_up = await ask(communicator, "and for part-timers?", conversation_id)
    searched = follow_up[0]["standalone_question"]
    assert searched == "How many days of annual leave do full-time employees get, for part-timers?"
    assert "Question: " + searched in llm_settings.requests[-1]["messages"][-1]["content"]
    message = await Message.objects.aget(pk=follow_up[0]["message_id"])
    assert message.question == "and for part-timers?" and message.standalone_question == searched
    await communicator.disconnect()


async def test_answer_end_carries_the_support_check_and_citations_their_highlights(people, ingest, llm_settings):
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("leave.md", LEAVE)
    llm_settings.tokens = ["You get 25 days of paid annual leave [1]. ", "You also get 40 days of sick leave [1]."]
    communicator = await connect(people.bob)
    events = await ask(communicator, "How many days of annual leave do I get?")
    support = events[-1]["support"]
    answer = events[-1]["answer"]
    assert set(s["verdict"] for s in support) == {"supported"}
    assert "40 days" not in answer, "a sentence the passage does not support is never shown"
    gate = events[-1]["gate"]
    assert gate["shown"] == 1 and gate["replaced"] + gate["dropped"] == 1, answer
    assert "40" not in "".join(e.get("text", "") for e in events if e["type"] == "answer.delta")
    citation = events[-2]["citations"][0]
    assert any("25 days" in citation["text"][a:b] for a, b in citation["highlights"])
    message = await Message.objects.aget(pk=events[0]["message_id"])
    assert message.support == support
    stored = await Citation.objects.aget(message=message)
    assert stored.highlights == citation["highlights"]
    await communicator.disconnect()


@pytest.mark.parametrize("where", ["before the first token", "in the middle of the answer"])
async def test_a_hanging_model_server_ends_in_a_clear_error_and_the_socket_keeps_working(
    people, ingest, llm_settings, settings, where
):
    from asgiref.sync import sync_to_async

    await sync_to_async(ingest)("leave.md", LEAVE)
    settings.LLM_TIMEOUT_S = 0.5
    from chat.generation import get_backend

    get_backend.cache_clear()
    if where == "before the first token":
        llm_settings.hang_s = 5
    else:
        llm_settings.delay_s = 5
    communicator = await connect(people.bob)
    events = await ask(communicator, "How many days of annual leave do I get?")
    errors = [e["message"] for e in events if e["type"] == "error"]
    assert errors == ["The language model server did not answer in time; try again."]
    assert events[-1]["type"] == "answer.end" and events[-1]["status"] == "failed"
    message = await Message.objects.aget(pk=events[0]["message_id"])
    assert message.status == Message.Status.FAILED and "did not answer in time" in message.error

    llm_settings.hang_s = llm_settings.delay_s = 0
    again = await ask(communicator, "How many days of annual leave do I get?")
    assert again[-1]["status"] == "complete", "the same socket answers the next question"
    await communicator.disconnect()
