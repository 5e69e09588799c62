"""Concurrent chat sessions against the real ASGI server: time to first token and errors.

Usage: .venv/bin/python bench/load.py [--sessions N] [--questions 3] [--tokens 20] [--rate 20]

Starts a throw-away embedded PostgreSQL and Redis, ingests the demo handbook, creates one
user per session, and runs Daphne as `make run` does, pointed at a local OpenAI-compatible
server (its own process) that streams `--tokens` tokens at `--rate` tokens per second, so
the app is measured and not the model. For each level (10, 50, 200, or `--sessions N`) all
sessions connect at once as different users and each asks `--questions` questions in turn.
Time to first token runs from sending the question to the first `answer.delta`; the
model's first token is sent at once, so its streaming time is excluded. An error is an
error frame, a refused or dropped connection, or an answer not finished within 60 s.
By default every session starts at once (the harshest case); `--stagger S` spreads the
starts over S seconds, as people arriving over a few seconds would.
The last line is `sessions=<N> errors=<e> ttft_p95_s=<x>` for the largest level.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from scratch import ROOT, scratch_django
from ttft import QUESTIONS

ANSWER_TIMEOUT_S = 60


ANSWER_SENTENCE = ["Employees", " get", " 25", " days", " [1]."]


def serve_fixed_rate_llm(port: int, tokens: int, rate: float, sentence_first: bool = False) -> None:
    """An OpenAI-compatible streaming endpoint: first token at once, then one every 1/rate s.

    The answer's one sentence ends the stream, or with `sentence_first` opens it (the gate shows
    whole sentences only, so that is when the first words can reach the page).
    """
    filler = max(0, tokens - len(ANSWER_SENTENCE))
    pieces = [*ANSWER_SENTENCE, *[" word"] * filler] if sentence_first else [*["word "] * filler, *ANSWER_SENTENCE]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for piece in pieces:
                chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(1 / rate)
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *args) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 1024
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def server_env(redis_url: str, llm_port: int) -> dict[str, str]:
    """The environment of the servers under test: real Celery, the scripted model server, no frame limit."""
    return dict(
        os.environ,
        REDIS_URL=redis_url,
        CELERY_TASK_ALWAYS_EAGER="0",
        LLM_BASE_URL=f"http://127.0.0.1:{llm_port}/v1",
        LLM_MODEL="fixed-rate",
        WARM_UP_MODELS="1",
        CHAT_FRAMES_PER_MINUTE="100000",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | multiprocessing.Process, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            alive = process.poll() is None if isinstance(process, subprocess.Popen) else process.is_alive()
            if not alive:
                raise SystemExit("a server exited while starting") from None
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port}")


def prepare(sessions: int) -> list[str]:
    """The demo handbook, and one logged-in user per session: their session keys."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from knowledge.demo import HANDBOOK_DIR

    call_command("ingest_folder", str(HANDBOOK_DIR), verbosity=0)
    password = make_password("load-test-pass")  # hashed once: 200 hashes would take a minute
    User.objects.bulk_create(User(username=f"load{i}", password=password) for i in range(sessions))
    keys = []
    for user in User.objects.filter(username__startswith="load").order_by("pk"):
        store = SessionStore()
        store.update(
            {"_auth_user_id": str(user.pk), "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
             "_auth_user_hash": user.get_session_auth_hash()}
        )  # fmt: skip
        store.create()
        keys.append(store.session_key)
    return keys


@dataclass
class Level:
    sessions: int
    ttfts: list[float] = field(default_factory=list)
    by_turn: dict[int, list[float]] = field(default_factory=dict)  # first, second, ... question of a session
    errors: list[str] = field(default_factory=list)
    answers: int = 0
    wall_s: float = 0.0


async def ask(socket_, question: str, since: float, errors: list[str]) -> float | None:
    """Asks on an open socket and waits for answer.end: seconds from `since` to the first
    answer.delta (None without one); error frames are added to `errors`."""
    await socket_.send(json.dumps({"type": "question", "text": question, "conversation_id": None}))
    first = None
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        while True:
            event = json.loads(await socket_.recv())
            if event["type"] == "answer.delta" and first is None:
                first = time.perf_counter() - since
            elif event["type"] == "error":
                errors.append(event["message"])
            elif event["type"] == "answer.end":
                return first


async def session(
    url: str, origin: str, key: str, index: int, questions: int, level: Level, start_after_s: float = 0.0
) -> None:
    import websockets

    await asyncio.sleep(start_after_s)
    try:
        async with websockets.connect(
            url, additional_headers={"Cookie": f"sessionid={key}", "Origin": origin}, open_timeout=30
        ) as socket_:
            for number in range(questions):
                question = QUESTIONS[(index + number) % len(QUESTIONS)]
                first = await ask(socket_, question, time.perf_counter(), level.errors)
                if first is not None:
                    level.ttfts.append(first)
                    level.by_turn.setdefault(number + 1, []).append(first)
                level.answers += 1
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        level.errors.append(f"{type(exc).__name__}: {exc}")


async def run_level(
    url: str, origin: str, keys: list[str], sessions: int, questions: int, stagger_s: float = 0.0
) -> Level:
    level = Level(sessions)
    started = time.perf_counter()
    await asyncio.gather(
        *(session(url, origin, keys[i], i, questions, level, stagger_s * i / sessions) for i in range(sessions))
    )
    level.wall_s = time.perf_counter() - started
    return level


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, help="run one level of N sessions (default: 10, 50 and 200)")
    parser.add_argument("--questions", type=int, default=3, help="questions per session")
    parser.add_argument("--tokens", type=int, default=20, help="tokens per answer from the model server")
    parser.add_argument("--rate", type=float, default=20.0, help="tokens per second from the model server")
    parser.add_argument(
        "--stagger", type=float, default=0.0, help="spread the sessions' starts evenly over this many seconds"
    )
    args = parser.parse_args()
    levels = [args.sessions] if args.sessions else [10, 50, 200]

    llm_port = free_port()
    llm = multiprocessing.get_context("spawn").Process(
        target=serve_fixed_rate_llm, args=(llm_port, args.tokens, args.rate), daemon=True
    )
    llm.start()
    with scratch_django() as scratch:
        from ragsite.embedded import start_redis

        redis = start_redis(scratch / "redis")
        daphne = None
        try:
            keys = prepare(max(levels))
            port = free_port()
            env = server_env(redis.url, llm_port)
            daphne = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "ragsite.asgi:application"],
                env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            wait_for_port(port, daphne)
            wait_for_port(llm_port, llm)
            url, origin = f"ws://127.0.0.1:{port}/ws/chat/", f"http://127.0.0.1:{port}"
            asyncio.run(run_level(url, origin, keys, 1, 1))  # models loaded, caches warm
            print(
                f"model server: {args.tokens} tokens at {args.rate:g}/s; {args.questions} questions per session; "
                f"sessions start over {args.stagger:g} s"
            )
            for sessions in levels:
                level = asyncio.run(run_level(url, origin, keys, sessions, args.questions, args.stagger))
                print(
                    f"sessions={sessions:4d} answers={level.answers:4d} errors={len(level.errors)} "
                    f"ttft_p50_s={statistics.median(level.ttfts) if level.ttfts else float('nan'):.3f} "
                    f"ttft_p95_s={percentile(level.ttfts, 0.95):.3f} "
                    f"messages_per_s={level.answers / level.wall_s:.1f} wall_s={level.wall_s:.1f}",
                    flush=True,
                )
                turns = " ".join(f"q{n}={percentile(v, 0.95):.3f}" for n, v in sorted(level.by_turn.items()))
                print(f"  ttft_p95_s by question of the session: {turns}")
                for error in sorted(set(level.errors))[:5]:
                    print(f"  error: {error}")
        finally:
            if daphne is not None:
                daphne.terminate()
                daphne.wait(30)
            redis.stop()
            llm.terminate()
    print(f"sessions={level.sessions} errors={len(level.errors)} ttft_p95_s={percentile(level.ttfts, 0.95):.3f}")


if __name__ == "__main__":
    main()
