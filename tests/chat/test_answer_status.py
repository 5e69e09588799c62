"""Whatever step of an answer fails, or if it is stopped, its message gets a final status and an audit entry."""

import pytest
from asgiref.sync import sync_to_async

from chat import answering, protocol
from chat.generation import get_backend
from chat.models import AuditEntry, Message
from knowledge import retrieval

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

LEAVE = "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per year."
QUESTION = "How many days of annual leave do I get?"


class Broken(Exception):
    pass


def breaks(*args, **kwargs):
    raise Broken("injected")


async def run(user) -> list[dict]:
    frames = []
    async for frame in answering.answer_events(
        user=user, question=QUESTION, conversation_id=None, backend=get_backend(), mode=answering.EXTRACTIVE
    ):
        protocol.validate(frame)
        frames.append(frame)
    return frames


async def final(user) -> tuple[str, str, str]:
    message = await Message.objects.filter(conversation__user=user).alatest("created_at")
    entry = await AuditEntry.objects.filter(message=message).afirst()
    return message.status, message.error, entry.status if entry else "no audit entry"


@pytest.mark.parametrize(
    "step, target, name",
    [
        ("prepare: the search", retrieval, "search_in"),
        ("stream: the sentences", answering, "_sentences_of"),
        ("conclude: the support check", answering, "check_support"),
    ],
)
async def test_a_failure_in_any_step_leaves_a_failed_message_with_its_audit_entry(
    people, ingest, llm_settings, monkeypatch, step, target, name
):
    await sync_to_async(ingest)("leave.md", LEAVE)
    monkeypatch.setattr(target, name, breaks)
    with pytest.raises(Broken):
        await run(people.bob)
    status, error, audited = await final(people.bob)
    assert (status, audited) == (Message.Status.FAILED, Message.Status.FAILED), step
    assert "Broken: injected" in error


async def test_a_stopped_answer_is_stored_as_stopped_with_what_was_shown(people, ingest, llm_settings):
    await sync_to_async(ingest)("leave.md", LEAVE)
    events = answering.answer_events(
        user=people.bob, question=QUESTION, conversation_id=None, backend=get_backend(), mode=answering.EXTRACTIVE
    )
    assert (await anext(events))["type"] == "answer.start"
    delta = await anext(events)
    await events.aclose()  # what the consumer's cancellation does to the generator
    message = await Message.objects.aget(conversation__user=people.bob)
    assert message.status == Message.Status.STOPPED and message.answer == delta["text"].strip()
    assert await AuditEntry.objects.filter(message=message, status=Message.Status.STOPPED).aexists()


async def test_a_complete_answer_is_stored_once_and_every_frame_is_a_protocol_frame(people, ingest, llm_settings):
    await sync_to_async(ingest)("leave.md", LEAVE)
    frames = await run(people.bob)
    assert [f["type"] for f in frames] == ["answer.start", "answer.delta", "answer.citations", "answer.end"]
    status, _, audited = await final(people.bob)
    assert status == audited == Message.Status.COMPLETE
    assert await AuditEntry.objects.filter(message_id=frames[0]["message_id"]).acount() == 1
