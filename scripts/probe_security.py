"""Probe a running instance the way the adversarial review did (issue 17), and print what it found.

    .venv/bin/python scripts/probe_security.py http://127.0.0.1:8000

Needs the demo accounts (`make run` creates them); `--staff user:password` names a member of
staff who may upload documents but not read the managers' guide (none in the demo). It changes nothing an administrator
would have to undo, except that it locks bob out from this address for the cool-off time
(`make manage ARGS="axes_reset_username bob"` unlocks). The suite tests each behaviour;
this script is for comparing two running versions side by side.
"""

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path

import httpx
import websockets

QUESTION = json.dumps({"type": "question", "text": "How many days of annual leave do I get?", "conversation_id": None})


def log_in(base: str, username: str, password: str, address: str = "") -> tuple[httpx.Client, int]:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    page = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": base + "/login/"},
    )
    return client, response.status_code


def session(client: httpx.Client) -> str:
    return client.cookies["sessionid"]


async def open_socket(base: str, cookie: str, origin: str | None = None):
    url = base.replace("http", "ws", 1) + "/ws/chat/"
    headers = {"Cookie": f"sessionid={cookie}", "Origin": origin or base}
    return await websockets.connect(url, additional_headers=headers, open_timeout=30)


async def next_answer_or_close(socket) -> str:
    """'answered', 'error: …' or 'closed <code>'."""
    try:
        while True:
            event = json.loads(await asyncio.wait_for(socket.recv(), 120))
            if event["type"] == "error":
                return f"error: {event['message']}"
            if event["type"] == "answer.end":
                return "answered"
    except websockets.ConnectionClosed as closed:
        return f"closed {closed.rcvd.code if closed.rcvd else '?'}"


async def stale_socket_after_logout(base: str) -> str:
    client, _ = log_in(base, "bob", "bob-demo-pass")
    socket = await open_socket(base, session(client))
    token = client.cookies.get("csrftoken", "")
    client.post("/logout/", data={"csrfmiddlewaretoken": token}, headers={"Referer": base + "/", "X-CSRFToken": token})
    await socket.send(QUESTION)
    result = await next_answer_or_close(socket)
    await socket.close()
    return result


async def foreign_origin(base: str) -> str:
    client, _ = log_in(base, "bob", "bob-demo-pass")
    port = int(base.rsplit(":", 1)[1]) + 1999
    try:
        socket = await open_socket(base, session(client), origin=f"http://127.0.0.1:{port}")
    except websockets.InvalidStatus as refused:
        return f"refused ({refused.response.status_code})"
    await socket.close()
    return "accepted"


async def nul_over_socket(base: str) -> str:
    client, _ = log_in(base, "bob", "bob-demo-pass")
    socket = await open_socket(base, session(client))
    await socket.send(json.dumps({"type": "question", "text": "leave\x00", "conversation_id": None}))
    result = await next_answer_or_close(socket)
    await socket.close()
    return result


async def sockets_held(base: str, tries: int) -> int:
    client, _ = log_in(base, "bob", "bob-demo-pass")
    sockets, usable = [], 0
    for _ in range(tries):
        socket = await open_socket(base, session(client))
        sockets.append(socket)
        try:
            event = json.loads(await asyncio.wait_for(socket.recv(), 1.0))
            if event["type"] == "error":
                continue
        except (TimeoutError, websockets.ConnectionClosed):
            if socket.close_code is not None:
                continue
        usable += 1
    for socket in sockets:
        await socket.close()
    return usable


def upload_names_twin(base: str, staff: str, path: Path) -> str:
    """A copy of `path` through the admin's upload form, refused for its dates so that nothing is created."""
    username, password = staff.split(":", 1)
    client = httpx.Client(base_url=base, timeout=60)
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    client.post("/admin/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": token},
                headers={"Referer": base + "/admin/login/"})  # fmt: skip
    form = client.get("/admin/knowledge/document/add/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    response = client.post(
        "/admin/knowledge/document/add/",
        data={"csrfmiddlewaretoken": token, "title": "", "visibility": "everyone",
              "effective_from": "2026-02-01", "effective_until": "2026-01-01"},
        files={"file": ("copy.md", path.read_bytes())},
        headers={"Referer": base + "/admin/knowledge/document/add/"},
    )  # fmt: skip
    named = re.search(r"identical to the document “([^”]+)”", response.text)
    return f"names “{named.group(1)}”" if named else "says nothing about a twin"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--staff", help="user:password of a staff member who may upload but not read the managers")
    args = parser.parse_args()
    base = args.base.rstrip("/")

    if args.staff:
        guide = Path(__file__).resolve().parent.parent / "demo/handbook/managers/managers-guide.md"
        print("2. upload of a copy of the managers' guide:", upload_names_twin(base, args.staff, guide))

    print("1. socket after logout, next question:", asyncio.run(stale_socket_after_logout(base)))
    print("5. socket with Origin on another port:", asyncio.run(foreign_origin(base)))
    client, _ = log_in(base, "alice", "alice-demo-pass")
    print("6. NUL in q: /api/search", client.get("/api/search", params={"q": "leave\x00"}).status_code, end="; ")
    print("/search/", client.get("/search/", params={"q": "leave\x00"}).status_code, end="; ")
    print("websocket:", asyncio.run(nul_over_socket(base)))
    print("7. sockets bob could hold of 50:", asyncio.run(sockets_held(base, 50)))
    started, statuses = time.monotonic(), []
    for _ in range(80):
        statuses.append(client.get("/api/search", params={"q": "annual leave", "k": 100}).status_code)
    print(
        f"7. 80 searches k=100 in {time.monotonic() - started:.0f} s:",
        {code: statuses.count(code) for code in sorted(set(statuses))},
    )
    outcomes = [log_in(base, "bob", "wrong-password")[1] for _ in range(40)]
    _, right = log_in(base, "bob", "bob-demo-pass")
    print(
        "3. 40 wrong passwords for bob:",
        {code: outcomes.count(code) for code in sorted(set(outcomes))},
        "then the right one:",
        "logged in" if right == 302 else f"refused ({right})",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
