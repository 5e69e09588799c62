import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, User
from django.urls import reverse

from chat.models import AuditEntry, Conversation
from tests.sockets import ask, connect

LEAVE = "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per year."


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_every_answer_is_audited_and_the_entry_outlives_the_conversation(people, ingest, llm_settings):
    document = await sync_to_async(ingest)("leave.md", LEAVE)
    communicator = await connect(people.bob)
    answered = await ask(communicator, "How many days of annual leave do I get?")
    await ask(communicator, "Who won the football world cup in 1998?")
    await communicator.disconnect()

    entries = [e async for e in AuditEntry.objects.order_by("id")]
    assert [(e.username, e.question, e.status) for e in entries] == [
        ("bob", "How many days of annual leave do I get?", "complete"),
        ("bob", "Who won the football world cup in 1998?", "complete"),
    ]
    assert entries[0].cited_documents == [{"id": document.pk, "title": "Leave"}]
    assert entries[0].prompt_documents == [{"id": document.pk, "title": "Leave"}]
    assert entries[0].message_id == answered[0]["message_id"]
    assert entries[1].cited_documents == [] and entries[1].prompt_documents == []

    await Conversation.objects.filter(pk=answered[0]["conversation_id"]).adelete()
    kept = await AuditEntry.objects.aget(pk=entries[0].pk)
    assert kept.message_id is None and kept.question == "How many days of annual leave do I get?"


def _staff(name: str, *, hr: bool) -> User:
    user = User.objects.create_user(name, password=f"pw-{name}-123", is_staff=True)
    if hr:
        user.groups.add(Group.objects.get_or_create(name="hr")[0])
    return user


@pytest.fixture
def audited(db, people):
    return AuditEntry.objects.create(
        user=people.alice,
        username="alice",
        question="What is my sick-leave balance?",
        status="complete",
        cited_documents=[{"id": 1, "title": "Sick leave of alice"}],
    )


def test_only_hr_staff_read_the_audit_log(client, audited):
    listing = reverse("admin:chat_auditentry_changelist")
    entry = reverse("admin:chat_auditentry_change", args=[audited.pk])

    client.force_login(_staff("hannah", hr=True))
    page = client.get(listing)
    assert page.status_code == 200 and "What is my sick-leave balance?" in page.content.decode()
    assert "Sick leave of alice" in page.content.decode()
    assert client.get(entry).status_code == 200
    assert "Audit entries" in client.get(reverse("admin:index")).content.decode()

    client.force_login(_staff("sam", hr=False))
    assert client.get(listing).status_code == 403
    assert client.get(entry).status_code == 403
    assert "Audit entries" not in client.get(reverse("admin:index")).content.decode()

    client.force_login(User.objects.get(username="alice"))
    assert client.get(listing).status_code == 302, "not staff: sent to the admin login"

    client.logout()
    assert client.get(listing).status_code == 302


def test_nobody_edits_or_deletes_audit_entries(client, audited):
    client.force_login(User.objects.create_superuser("root", password="pw-root-123"))
    assert client.get(reverse("admin:chat_auditentry_delete", args=[audited.pk])).status_code == 403
    client.post(reverse("admin:chat_auditentry_change", args=[audited.pk]), {"question": "rewritten"})
    audited.refresh_from_db()
    assert audited.question == "What is my sick-leave balance?"
    assert client.get(reverse("admin:chat_auditentry_add")).status_code == 403


def test_an_entry_reads_as_words_and_shows_the_answer_only_to_an_auditor_who_may_read_its_sources(
    client, people, ingest
):
    from chat.models import Citation, Message

    pay = ingest("pay.md", "# Pay\n\n## Bands\n\nGrade C3 earns 46,000 to 58,000 EUR.", groups=[people.managers])
    conversation = Conversation.objects.create(user=people.alice, title="Pay")
    message = Message.objects.create(
        conversation=conversation, question="What does C3 earn?", answer="Grade C3 earns 46,000 to 58,000 EUR [1]."
    )
    Citation.objects.create(message=message, marker=1, document_id=pay.pk, document_title="Pay", quote="…")
    entry = AuditEntry.objects.create(
        user=people.alice,
        username="alice",
        message=message,
        question=message.question,
        status="complete",
        prompt_documents=[{"id": pay.pk, "title": "Pay"}],
        cited_documents=[{"id": pay.pk, "title": "Pay"}],
    )
    page = reverse("admin:chat_auditentry_change", args=[entry.pk])

    manager_in_hr = _staff("hannah", hr=True)
    manager_in_hr.groups.add(people.managers)
    client.force_login(manager_in_hr)
    shown = client.get(page).content.decode()
    assert "Grade C3 earns 46,000 to 58,000 EUR [1]." in shown
    assert "Passages given to the model came from" in shown and "{&quot;id&quot;" not in shown and '{"id"' not in shown

    client.force_login(_staff("harry", hr=True))  # HR, but not a manager: may not read the pay document
    shown = client.get(page).content.decode()
    assert client.get(page).status_code == 200
    assert "46,000" not in shown and "Hidden: the answer cites documents you may not read" in shown

    conversation.delete()
    client.force_login(manager_in_hr)
    assert "Not kept: the asker deleted the conversation" in client.get(page).content.decode()
