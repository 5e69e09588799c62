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
