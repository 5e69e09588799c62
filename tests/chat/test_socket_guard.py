"""An open socket keeps no right its session lost: logout, deactivation, password change, expiry, demotion."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from tests.sockets import ask, connect, ended

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

GUIDE = "# Managers' guide\n\n## Salary bands\n\nGrade C3 earns 46,000 to 58,000 EUR a year."
LEAVE = "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per year."


async def logged_in(user) -> tuple[Client, object]:
    client = Client()
    await sync_to_async(client.force_login)(user)
    return client, await connect(user, client=client)


async def test_logout_closes_the_open_socket_of_that_session_only(people, llm_settings):
    client, socket = await logged_in(people.bob)
    _, other_tab = await logged_in(people.bob)  # another browser, another session
    await sync_to_async(client.post)("/logout/")
    message, code = await ended(socket)
    assert "session has ended" in message and code == 4401
    events = await ask(other_tab, "Hello?")
    assert events[-1]["type"] == "answer.end", "the other session was not logged out"
    await other_tab.disconnect()


@pytest.mark.parametrize("change", ["deactivated", "new password", "deleted"])
async def test_a_changed_user_loses_every_open_socket_at_once(people, llm_settings, change):
    _, socket = await logged_in(people.bob)

    def apply() -> None:
        bob = User.objects.get(pk=people.bob.pk)
        if change == "deactivated":
            bob.is_active = False
            bob.save()
        elif change == "new password":
            bob.set_password("a-new-password-456")
            bob.save()
        else:
            bob.delete()

    await sync_to_async(apply)()
    message, code = await ended(socket)
    assert "log in again" in message and code == 4401


async def test_every_question_reads_the_session_and_rights_again(people, ingest, llm_settings):
    """Changes made behind the signals' back (SQL, an expired session) are caught at the next question."""
    await sync_to_async(ingest)("guide.md", GUIDE, groups=[people.managers])
    await sync_to_async(ingest)("leave.md", LEAVE)
    root = await sync_to_async(User.objects.create_superuser)("root", password="pw-root-123")
    _, socket = await logged_in(root)
    llm_settings.echo = True
    events = await ask(socket, "What does grade C3 earn?")
    assert "46,000" in json.dumps(events), "a superuser reads the managers' guide"
    await User.objects.filter(pk=root.pk).aupdate(is_superuser=False)  # no signal
    events = await ask(socket, "What does grade C3 earn?")
    assert events[-1]["type"] == "answer.end" and "46,000" not in json.dumps(events), "demoted: rights as of now"

    await Session.objects.aupdate(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    await socket.send_to(text_data=json.dumps({"type": "question", "text": "What does grade C3 earn?"}))
    message, code = await ended(socket)
    assert "session has ended" in message and code == 4401


async def test_an_expired_session_closes_its_socket_without_a_question(people, llm_settings, settings):
    settings.CHAT_SESSION_RECHECK_S = 0.2
    _, socket = await logged_in(people.bob)
    await Session.objects.aupdate(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    message, code = await ended(socket)
    assert "session has ended" in message and code == 4401


async def test_sockets_per_user_are_capped_and_a_closed_one_frees_its_place(people, llm_settings, settings):
    settings.CHAT_SOCKETS_PER_USER = 2
    first = await connect(people.bob)
    second = await connect(people.bob)
    third = await connect(people.bob)
    message, code = await ended(third)
    assert "2 chat windows open" in message and code == 4429
    alice = await connect(people.alice)
    assert (await ask(alice, "Hello?"))[-1]["type"] == "answer.end", "the cap is per person"
    await first.disconnect()
    fourth = await connect(people.bob)
    assert (await ask(fourth, "Hello?"))[-1]["type"] == "answer.end"
    for socket in (second, fourth, alice):
        await socket.disconnect()
