import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from knowledge.documents import document_create
from knowledge.models import Document

# Hypothesis's default 200 ms deadline and "too slow" check time each example: on a slow or busy
# machine they fail tests whose behaviour is right. The properties here are about results.
hypothesis_settings.register_profile("any-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("any-machine")


@dataclass
class People:
    alice: User  # managers
    bob: User  # engineering
    carol: User  # no group
    managers: Group
    engineering: Group


@pytest.fixture
def people(db) -> People:
    managers = Group.objects.create(name="managers")
    engineering = Group.objects.create(name="engineering")
    alice = User.objects.create_user("alice", password="pw-alice-123")
    alice.groups.add(managers)
    bob = User.objects.create_user("bob", password="pw-bob-123")
    bob.groups.add(engineering)
    carol = User.objects.create_user("carol", password="pw-carol-123")
    return People(alice=alice, bob=bob, carol=carol, managers=managers, engineering=engineering)


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    """Create a document and run its ingestion (Celery eager mode) as the upload would."""

    def make(name: str, content: bytes | str, *, groups: list[Group] | None = None, title: str = "") -> Document:
        data = content.encode() if isinstance(content, str) else content
        with django_capture_on_commit_callbacks(execute=True):
            document = document_create(
                file=ContentFile(data, name=name),
                title=title,
                visibility=Document.Visibility.GROUPS if groups else Document.Visibility.EVERYONE,
                groups=groups,
            )
        document.refresh_from_db()
        return document

    return make


@dataclass
class FakeLLM:
    """A real HTTP server on 127.0.0.1 speaking the OpenAI streaming format with scripted tokens."""

    tokens: list[str] = field(default_factory=lambda: ["You get ", "25 days ", "of annual leave ", "[1]", "."])
    status: int = 200
    delay_s: float = 0.0  # after each token
    hang_s: float = 0.0  # before answering at all
    requests: list[dict] = field(default_factory=list)
    url: str = ""
    echo: bool = False  # repeat the sources of the prompt back: the worst case for a leak

    def reply(self, body: dict) -> list[str]:
        if not self.echo:
            return self.tokens
        words = body["messages"][-1]["content"].split("\n\nQuestion:")[0].split(" ")
        return [" ".join(words[i : i + 8]) + " " for i in range(0, len(words), 8)]


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append(body)
            time.sleep(fake.hang_s)
            if fake.status != 200:
                self.send_response(fake.status)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for token in fake.reply(body):
                chunk = {"choices": [{"index": 0, "delta": {"content": token}}]}
                try:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                time.sleep(fake.delay_s)
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def llm_settings(settings, fake_llm: FakeLLM) -> Iterator[FakeLLM]:
    """Point the product at the fake server, as LLM_BASE_URL would in a deployment."""
    from chat.generation import get_backend

    settings.LLM_BASE_URL = fake_llm.url
    settings.LLM_MODEL = "scripted"
    get_backend.cache_clear()
    yield fake_llm
    get_backend.cache_clear()


@pytest.fixture(autouse=True)
def _empty_redis() -> None:
    """Rate-limit counters are per user id, and ids repeat between tests."""
    import os

    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


# The product keeps database connections open (DB_CONN_MAX_AGE); in this process answers run on
# executor threads whose open connections would keep the test database from being dropped.
django_settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


def checks_done() -> None:
    """Waits for the work an answer queued after answer.end (`chat.answering._remember_later`)."""
    from chat import answering

    answering._CHECKS.submit(lambda: None).result(timeout=120)


@pytest.fixture(autouse=True)
def _answers_settled(request):
    """Work queued after an answer finishes before the test database is flushed: a row written
    during the flush's TRUNCATE deadlocked it."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None:  # set up first, so that it is torn down after this fixture
        request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    yield
    checks_done()


@pytest.fixture
def api_server():
    """The product's ASGI server (Daphne) on this test's database, answering from the documents alone."""
    import os

    from django.db import connection

    from tests.processes import Daphne
    from tests.services import database_url_for

    env = dict(
        os.environ,
        DATABASE_URL=database_url_for(connection.settings_dict["NAME"]),
        MEDIA_ROOT=str(django_settings.MEDIA_ROOT),
        LLM_BASE_URL="",
        ANSWER_MODE="extractive",
    )
    server = Daphne(env)
    server.start()
    yield server
    server.stop()
