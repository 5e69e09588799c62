"""Answers cite the rule in force: dated questions, the effective-date note, labels, and contradictions."""

import json
from datetime import date

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from chat.answering import answer_events
from chat.generation import get_backend
from chat.models import Message
from knowledge.models import Document
from tests.pages import citations_on

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TODAY = date(2026, 11, 23)


def policy(year: int, days: int) -> str:
    return (
        f"# Leave policy {year}\n\n## Entitlement\n\n"
        f"Full-time employees receive {days} days of paid annual leave per calendar year."
    )


BERLIN = (
    "# Berlin office\n\n## Holidays\n\nFull-time employees in the Berlin office receive 28 days of paid annual leave "
    "per calendar year."
)


async def ask(user, question: str, today: date = TODAY) -> dict:
    events = [
        e
        async for e in answer_events(
            user=user, question=question, conversation_id=None, backend=get_backend(), today=today
        )
    ]
    citations = next((e["citations"] for e in events if e["type"] == "answer.citations"), [])
    return {"end": events[-1], "citations": citations, "streamed": "".join(e.get("text", "") for e in events)}


@pytest.fixture
def three_versions(ingest, people):
    made = {}
    for year, days in ((2025, 23), (2026, 25), (2027, 26)):
        made[year] = ingest(f"leave-{year}.md", policy(year, days), title=f"Leave policy {year}")
    Document.objects.filter(pk=made[2025].pk).update(effective_from=date(2025, 1, 1))
    Document.objects.filter(pk=made[2026].pk).update(supersedes=made[2025], effective_from=date(2026, 1, 1))
    Document.objects.filter(pk=made[2027].pk).update(supersedes=made[2026], effective_from=date(2027, 1, 1))
    return made


@pytest.mark.parametrize(
    ("question", "year", "label", "note"),
    [
        (
            "How many days of paid annual leave do full-time employees get?",
            2026,
            "In force from 1 January 2026 to 31 December 2026",
            "Leave policy 2026: in force from 1 January 2026 to 31 December 2026.",
        ),
        (
            "How many days of paid annual leave did full-time employees get in 2025?",
            2025,
            "Superseded on 1 January 2026; in force from 1 January 2025 to 31 December 2025",
            "Leave policy 2025: superseded on 1 January 2026; in force from 1 January 2025 to 31 December 2025.",
        ),
        (
            "How many days of paid annual leave will full-time employees get in 2027?",
            2027,
            "Not yet in force; comes into force on 1 January 2027",
            "Leave policy 2027: not yet in force; comes into force on 1 January 2027.",
        ),
    ],
)
async def test_a_dated_question_is_answered_from_its_version_and_says_when_it_applies(
    three_versions, people, llm_settings, question, year, label, note
):
    llm_settings.echo = True  # the model repeats every source it was given
    result = await ask(people.carol, question)
    expected = three_versions[year]
    assert {c["document_id"] for c in result["citations"]} == {expected.pk}
    assert [c["version"] for c in result["citations"]] == [label]
    prompt = llm_settings.requests[-1]["messages"][-1]["content"]
    assert f"Leave policy {year} > Entitlement ({label[0].lower() + label[1:]})" in prompt
    for other in {2025, 2026, 2027} - {year}:
        assert f"Leave policy {other}" not in prompt
    assert result["end"]["answer"].endswith("\n\n" + note)
    assert result["streamed"].endswith(note), "the note streams like the rest of the answer"
    message = await Message.objects.aget(pk=result["end"]["message_id"])
    assert message.answer == result["end"]["answer"]
    assert result["end"]["version_note"] == message.version_note == note, "the page shows it under the sources"


async def test_the_sources_panel_of_a_past_conversation_labels_a_version_superseded_since(
    ingest, people, llm_settings, client
):
    old = await sync_to_async(ingest)("leave-2025.md", policy(2025, 23), title="Leave policy 2025")
    llm_settings.tokens = ["Full-time employees receive 23 days of paid annual leave [1]."]
    result = await ask(people.carol, "How many days of paid annual leave do full-time employees get?")
    assert [c["version"] for c in result["citations"]] == [""], "undated: nothing to say"

    new = await sync_to_async(ingest)("leave-2026.md", policy(2026, 25), title="Leave policy 2026")
    await Document.objects.filter(pk=new.pk).aupdate(supersedes=old, effective_from=date(2026, 1, 1))
    await sync_to_async(client.force_login)(people.carol)
    message = await Message.objects.aget(pk=result["end"]["message_id"])
    page = await sync_to_async(client.get)(reverse("chat:conversation", args=[message.conversation_id]))
    [card] = citations_on(page.content.decode())[0]
    assert card["version_state"] == "superseded" and card["version"].startswith("Superseded on 1 January 2026")
    export = await sync_to_async(client.get)(reverse("chat:export", args=[message.conversation_id]))
    assert "(superseded on 1 January 2026; in force until 31 December 2025)" in export.content.decode()


async def test_contradicting_documents_in_force_are_both_cited_and_the_answer_says_so(
    ingest, people, llm_settings, settings
):
    settings.RETRIEVAL_TOP_K = 1  # retrieval finds one side; the other comes with it
    leave = await sync_to_async(ingest)("leave.md", policy(2026, 25), title="Leave policy 2026")
    berlin = await sync_to_async(ingest)("berlin.md", BERLIN, title="Berlin office")
    llm_settings.tokens = ["You get 25 days [1]."]
    result = await ask(people.carol, "How many days of paid annual leave do full-time employees get?")

    assert {c["document_id"] for c in result["citations"]} == {leave.pk, berlin.pk}
    answer = result["end"]["answer"]
    assert "The documents disagree here:" in answer
    assert "Leave policy 2026 says “Full-time employees receive 25 days" in answer
    assert "Berlin office says “Full-time employees in the Berlin office receive 28 days" in answer


async def test_a_contradiction_with_a_document_the_user_may_not_read_stays_hidden(
    ingest, people, llm_settings, settings
):
    settings.RETRIEVAL_TOP_K = 1
    await sync_to_async(ingest)("leave.md", policy(2026, 25), title="Leave policy 2026")
    await sync_to_async(ingest)("berlin.md", BERLIN, groups=[people.managers], title="Berlin office")
    llm_settings.echo = True
    result = await ask(people.bob, "How many days of paid annual leave do full-time employees get?")
    everything = json.dumps([result, llm_settings.requests[-1]])
    assert "28 days" not in everything and "Berlin" not in everything and "disagree" not in everything

    alice = await ask(people.alice, "How many days of paid annual leave do full-time employees get?")
    assert "The documents disagree here:" in alice["end"]["answer"], "a manager reads both"


async def test_a_user_who_may_read_only_the_old_version_gets_nothing_from_the_new_one(ingest, people, llm_settings):
    old = await sync_to_async(ingest)(
        "leave-2025.md", policy(2025, 23), groups=[people.engineering], title="Leave policy 2025"
    )
    new = await sync_to_async(ingest)(
        "leave-2026.md", policy(2026, 25), groups=[people.managers], title="Leave policy 2026"
    )
    await Document.objects.filter(pk=old.pk).aupdate(effective_from=date(2025, 1, 1))
    await Document.objects.filter(pk=new.pk).aupdate(supersedes=old, effective_from=date(2026, 1, 1))
    llm_settings.echo = True

    today = await ask(people.bob, "How many days of paid annual leave do full-time employees get?")
    assert today["citations"] == [] and "25 days" not in json.dumps(today)
    past = await ask(people.bob, "How many days of paid annual leave did full-time employees get in 2025?")
    assert {c["document_id"] for c in past["citations"]} == {old.pk}
    assert "25 days" not in json.dumps(past) and "Leave policy 2026" not in json.dumps(past)


async def test_the_document_page_says_a_version_is_superseded_and_links_the_newer_one_if_readable(
    ingest, people, client
):
    old = await sync_to_async(ingest)("leave-2025.md", policy(2025, 23), title="Leave policy 2025")
    new = await sync_to_async(ingest)(
        "leave-2026.md", policy(2026, 25), groups=[people.managers], title="Leave policy 2026"
    )
    await Document.objects.filter(pk=new.pk).aupdate(supersedes=old, effective_from=date(2026, 1, 1))
    for user, sees_link in ((people.alice, True), (people.bob, False)):
        await sync_to_async(client.force_login)(user)
        page = (await sync_to_async(client.get)(reverse("document", args=[old.pk]))).content.decode()
        assert 'class="version-note superseded">Superseded on 1 January 2026' in page
        assert ("Leave policy 2026" in page) is sees_link, "the newer version's title only for its readers"
