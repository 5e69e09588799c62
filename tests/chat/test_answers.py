"""The answers an employee reads, through the websocket: the failures the product once showed, each a test.

A scripted model (a real HTTP server speaking the OpenAI format) says what a small model said;
the page must never show a figure the cited passage does not state.
"""

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group

from chat.models import Message
from knowledge.records import records_import
from tests.sockets import ask, connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

LEAVE = (
    "# Leave and Holidays\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per "
    "calendar year. After five years of continuous service the entitlement rises to 27 days.\n\n"
    "## Part-time\n\nPart-time employees receive annual leave in proportion to their contracted hours. For example, "
    "an employee who works three days a week receives 15 days.\n\n"
    "## Compassionate leave\n\nEmployees may take up to 5 days of paid compassionate leave on the death of a close "
    "family member.\n\n## Learning\n\nEach employee has a learning budget of 1,000 EUR a year.\n\n"
    "## Payroll\n\nSalaries are paid twice monthly, on the 15th and on the last day of each month."
)
GUIDE = "# Managers' guide\n\n## Salary bands\n\nGrade C3 earns 46,000 to 58,000 EUR a year."
BALANCES = (
    "username,as_of,annual_leave_entitlement,annual_leave_taken,annual_leave_remaining\n"
    "alice,2026-11-01,25 days,12 days,13 days\nbob,2026-11-01,27 days,25 days,2 days\n"
)


def shown(events: list[dict]) -> str:
    """Everything the page displayed as answer text."""
    return "".join(e["text"] for e in events if e["type"] == "answer.delta")


async def stored(events: list[dict]) -> str:
    return (await Message.objects.aget(pk=events[0]["message_id"])).answer


@pytest.mark.parametrize(
    "question, lie, wrong, right",
    [
        ("How many days of annual leave do full-time employees get?",
         "You get 20 days of paid annual leave per calendar year [1].", "20 days", "25 days"),
        ("How many days of compassionate leave do I get when a parent dies?",
         "You get 3 days of compassionate leave [1].", "3 days", "5 days"),
        ("What is the learning budget?", "The learning budget is 7,000 EUR a year [1].", "7,000", "1,000 EUR"),
        ("When are salaries paid?", "Salaries are paid every month [1].", "every month", "twice monthly"),
    ],
)  # fmt: skip
async def test_a_model_that_states_a_wrong_figure_is_never_shown(
    people, ingest, llm_settings, question, lie, wrong, right
):
    await sync_to_async(ingest)("leave.md", LEAVE)
    llm_settings.tokens = [lie]
    communicator = await connect(people.bob)
    events = await ask(communicator, question)
    await communicator.disconnect()
    assert llm_settings.requests, "the configured model was asked"
    for text in (shown(events), events[-1]["answer"], await stored(events)):
        assert wrong not in text and right in text, text
    assert events[-1]["status"] == "complete"


async def test_a_follow_up_gets_the_part_time_rule_not_recombined_nonsense(people, ingest, llm_settings):
    await sync_to_async(ingest)("leave.md", LEAVE)
    communicator = await connect(people.bob)
    llm_settings.tokens = ["You get 25 days of paid annual leave per calendar year [1]."]
    first = await ask(communicator, "How many days of annual leave do full-time employees get?")
    llm_settings.tokens = ["You get 3 full-time employees, for part-timers [1]."]
    follow_up = await ask(communicator, "and for part-timers?", first[0]["conversation_id"])
    await communicator.disconnect()
    assert "full-time employees, for part-timers" not in shown(follow_up)
    assert "15 days" in shown(follow_up) or "in proportion" in shown(follow_up)


async def test_without_a_model_server_the_answer_is_the_documents_own_sentence_at_once(people, ingest, settings):
    settings.LLM_BASE_URL = ""  # the embedded default: extractive, the 135M model is not run
    await sync_to_async(ingest)("leave.md", LEAVE)
    communicator = await connect(people.bob)
    events = await ask(communicator, "How many days of annual leave do full-time employees get?")
    await communicator.disconnect()
    assert shown(events).startswith("Full-time employees receive 25 days of paid annual leave per calendar year [1].")
    message = await Message.objects.aget(pk=events[0]["message_id"])
    assert message.backend == "documents" and message.time_to_first_token_ms is not None
    assert [s["verdict"] for s in events[-1]["support"]] == ["supported"]


async def test_on_topic_passages_that_do_not_answer_say_so_and_offer_related_reading(people, ingest, settings):
    settings.LLM_BASE_URL = ""
    await sync_to_async(ingest)("leave.md", LEAVE)
    communicator = await connect(people.bob)
    events = await ask(communicator, "How many days of sabbatical leave can I take?")
    await communicator.disconnect()
    assert "could not find" in shown(events) and "Related reading:" in shown(events)
    assert not any(ch.isdigit() for ch in shown(events).split("Related reading:")[0])
    assert events[-2]["citations"], "the related passages can be opened"


async def test_my_balance_comes_from_my_own_record_dated_never_a_colleagues(people, ingest, llm_settings):
    await sync_to_async(ingest)("leave.md", LEAVE)
    await sync_to_async(records_import)(BALANCES.encode(), kind="Leave balance")
    carol_in_hr = sync_to_async(lambda: people.carol.groups.add(Group.objects.get(name="hr")))
    await carol_in_hr()
    llm_settings.tokens = ["You have 27 days of paid leave [1]."]
    for user, mine, theirs in [(people.bob, "2 days", "13 days"), (people.alice, "13 days", "2 days")]:
        communicator = await connect(user)
        events = await ask(communicator, "How much annual leave do I have left?")
        await communicator.disconnect()
        answer = shown(events)
        assert answer.startswith(f"Your annual leave remaining is {mine}, as of 1 November 2026 [1].")
        assert theirs not in answer and "27 days of paid leave" not in answer
        cited = [c["document_title"] for c in events[-2]["citations"]]
        assert cited[0] == f"Leave balance: {user.username}"
        assert all(user.username in t or "balance" not in t for t in cited)
    communicator = await connect(people.carol)  # HR may read both records, but "my" balance is neither
    events = await ask(communicator, "How much annual leave do I have left?")
    await communicator.disconnect()
    assert "13 days" not in json.dumps(events) and "2 days" not in shown(events)


async def test_a_user_without_rights_gets_nothing_of_a_restricted_document(people, ingest, settings):
    settings.LLM_BASE_URL = ""
    await sync_to_async(ingest)("leave.md", LEAVE)
    await sync_to_async(ingest)("guide.md", GUIDE, groups=[people.managers])
    communicator = await connect(people.bob)
    events = await ask(communicator, "What is the salary band for grade C3?")
    await communicator.disconnect()
    assert "46,000" not in json.dumps(events) and "Managers" not in json.dumps(events)
    communicator = await connect(people.alice)
    events = await ask(communicator, "What is the salary band for grade C3?")
    await communicator.disconnect()
    assert "46,000 to 58,000 EUR" in shown(events)


async def test_a_follow_up_about_part_timers_in_the_same_section_gets_the_part_time_rule(people, ingest, settings):
    settings.LLM_BASE_URL = ""
    entitlement = (
        "# Leave\n\n## Entitlement\n\nFull-time employees receive 25 days of paid annual leave per calendar year. "
        "Part-time employees receive annual leave in proportion to their contracted hours. For example, an "
        "employee who works three days a week receives 15 days (25 × 3/5)."
    )
    await sync_to_async(ingest)("leave.md", entitlement)
    communicator = await connect(people.bob)
    first = await ask(communicator, "How many days of annual leave do full-time employees get?")
    follow_up = await ask(communicator, "and for part-timers?", first[0]["conversation_id"])
    await communicator.disconnect()
    assert "15 days" in shown(follow_up) and "in proportion to their contracted hours" in shown(follow_up)
