"""Talking to the chat websocket in tests, as the browser does: session cookie and origin."""

import json

from channels.testing import WebsocketCommunicator
from django.test import Client

from chat import protocol
from ragsite.asgi import application

# The longest wait for one event: a stall, not the answer's total time (loading a model on a slow
# machine is one step).
EVENT_WAIT_S = 120


def session_headers(
    user, origin: bytes = b"http://localhost", client: Client | None = None
) -> list[tuple[bytes, bytes]]:
    """A new session for `user`, or the session `client` is logged in with."""
    if client is None:
        client = Client()
        client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return [(b"cookie", cookie), (b"origin", origin), (b"host", b"localhost")]


async def connect(user, origin: bytes = b"http://localhost", client: Client | None = None) -> WebsocketCommunicator:
    from asgiref.sync import sync_to_async

    headers = await sync_to_async(session_headers)(user, origin, client)
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def ask(communicator, text: str, conversation_id=None) -> list[dict]:
    await communicator.send_to(
        text_data=json.dumps({"type": "question", "text": text, "conversation_id": conversation_id})
    )
    events = []
    while True:
        event = json.loads(await communicator.receive_from(timeout=EVENT_WAIT_S))
        protocol.validate(event)  # every frame the consumer sends is one the protocol defines
        events.append(event)
        if event["type"] in {"answer.end"} or (event["type"] == "error" and len(events) == 1):
            return events


async def ended(communicator) -> tuple[str, int]:
    """The socket's last words and its close code, when the server ends it; fails if it stays open."""
    said = await communicator.receive_output(timeout=EVENT_WAIT_S)
    closed = await communicator.receive_output(timeout=EVENT_WAIT_S)
    assert said["type"] == "websocket.send" and closed["type"] == "websocket.close", (said, closed)
    protocol.validate(json.loads(said["text"]))
    return json.loads(said["text"])["message"], closed["code"]
