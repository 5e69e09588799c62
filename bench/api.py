"""The answer API beside the page's websocket, in one run against a running server: time to the
first frame, time to the whole answer, and answers per second, for the same questions.

Start the product with the per-person and per-token limits out of the way
(`CHAT_FRAMES_PER_MINUTE=10000 API_ASKS_PER_MINUTE=10000 make run`), make a token
(`make manage ARGS="create_api_token bob"`), then:
`.venv/bin/python bench/api.py --token rag_… [--n 16] [--concurrency 4]`.
Each round asks every way once, in an order that rotates by round, so no way always runs
first on a warm cache. "First frame" is the first answer text: an `answer.delta` on the socket
and in the event stream, the whole response for JSON. Answers per second come from a second
phase that keeps `--concurrency` questions in flight for each way in turn.
The last line is `api_over_socket_first_frame=<ratio> api_answers_per_s=<x> socket_answers_per_s=<y>`.
"""

import argparse
import asyncio
import json
import statistics
import time

import httpx
import websockets
from ttft import QUESTIONS, login

WAYS = ("socket", "api-json", "api-sse")


async def by_socket(args, session: str, question: str) -> tuple[float, float]:
    headers = {"Cookie": f"sessionid={session}", "Origin": args.url}
    async with websockets.connect(args.url.replace("http", "ws", 1) + "/ws/chat/", additional_headers=headers) as ws:
        sent = time.perf_counter()
        await ws.send(json.dumps({"type": "question", "text": question, "conversation_id": None}))
        first = None
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == "answer.delta" and first is None:
                first = time.perf_counter() - sent
            if event["type"] == "answer.end":
                return first or float("nan"), time.perf_counter() - sent
            if event["type"] == "error":
                raise SystemExit(event["message"])


async def by_api(args, client: httpx.AsyncClient, question: str, stream: bool) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {args.token}", "Accept": "text/event-stream" if stream else "application/json"}
    sent = time.perf_counter()
    if not stream:
        response = await client.post("/api/ask", json={"question": question}, headers=headers)
        if response.status_code != 200:
            raise SystemExit(response.text)
        took = time.perf_counter() - sent
        return took, took
    first = None
    async with client.stream("POST", "/api/ask", json={"question": question}, headers=headers) as response:
        if response.status_code != 200:
            raise SystemExit((await response.aread()).decode())
        async for line in response.aiter_lines():
            if line == "event: answer.delta" and first is None:
                first = time.perf_counter() - sent
    return first or float("nan"), time.perf_counter() - sent


async def once(args, way: str, session: str, client: httpx.AsyncClient, question: str) -> tuple[float, float]:
    if way == "socket":
        return await by_socket(args, session, question)
    return await by_api(args, client, question, stream=way == "api-sse")


async def throughput(args, way: str, session: str, client: httpx.AsyncClient) -> float:
    queue = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.n)]
    started = time.perf_counter()

    async def worker() -> None:
        while queue:
            await once(args, way, session, client, queue.pop())

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return args.n / (time.perf_counter() - started)


async def run(args) -> None:
    session = login(args.url, args.user, args.password)
    firsts: dict[str, list[float]] = {way: [] for way in WAYS}
    wholes: dict[str, list[float]] = {way: [] for way in WAYS}
    async with httpx.AsyncClient(base_url=args.url, timeout=120) as client:
        for index in range(args.n):
            question = QUESTIONS[index % len(QUESTIONS)]
            for way in WAYS[index % 3 :] + WAYS[: index % 3]:
                first, whole = await once(args, way, session, client, question)
                firsts[way].append(first)
                wholes[way].append(whole)
        rates = {way: await throughput(args, way, session, client) for way in ("socket", "api-json")}
    for way in WAYS:
        print(
            f"{way:9} first_frame_p50_s={statistics.median(firsts[way]):.3f} "
            f"whole_p50_s={statistics.median(wholes[way]):.3f}"
        )
    ratio = statistics.median(firsts["api-sse"]) / statistics.median(firsts["socket"])
    print(f"api_over_socket_first_frame={ratio:.2f} api_answers_per_s={rates['api-json']:.2f} "
          f"socket_answers_per_s={rates['socket']:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="bob")
    parser.add_argument("--password", default="bob-demo-pass")
    parser.add_argument("--token", required=True, help="an API token of the same person (create_api_token)")
    parser.add_argument("--n", type=int, default=len(QUESTIONS), help="questions per way and per phase")
    parser.add_argument("--concurrency", type=int, default=4)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
