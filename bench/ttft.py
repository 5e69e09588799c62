"""Time from sending a question to the first streamed token, against a running server.

Start the product (`make run`), then: `.venv/bin/python bench/ttft.py [--n 8]`.
It logs in like a browser, asks over the real websocket and prints medians. The "send"
moment is when the question frame leaves the client: the same as pressing Enter.
"""

import argparse
import asyncio
import json
import re
import statistics
import time

import httpx
import websockets

QUESTIONS = [
    "How many days of annual leave do I get?",
    "Can I travel first class by train?",
    "What is the hotel limit in Paris?",
    "How long is partner leave?",
    "How many days can I work from abroad?",
    "What is the mileage allowance for my own car?",
    "Who approves an expense of 1,500 EUR?",
    "When do I need a doctor's note for sick leave?",
]


def login(base: str, user: str, password: str) -> str:
    with httpx.Client(base_url=base) as client:
        page = client.get("/login/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        response = client.post("/login/", data={"username": user, "password": password, "csrfmiddlewaretoken": token})
        if "sessionid" not in client.cookies:
            raise SystemExit(f"login failed ({response.status_code})")
        return client.cookies["sessionid"]


async def ask(ws_url: str, origin: str, session: str, question: str) -> tuple[float, float, int]:
    headers = {"Cookie": f"sessionid={session}", "Origin": origin}
    async with websockets.connect(ws_url, additional_headers=headers) as socket:
        sent = time.perf_counter()
        await socket.send(json.dumps({"type": "question", "text": question, "conversation_id": None}))
        first = None
        citations = 0
        while True:
            event = json.loads(await socket.recv())
            if event["type"] == "answer.delta" and first is None:
                first = time.perf_counter() - sent
            if event["type"] == "answer.citations":
                citations = len(event["citations"])
            if event["type"] == "answer.end":
                return first or float("nan"), time.perf_counter() - sent, citations
            if event["type"] == "error":
                raise SystemExit(event["message"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="bob")
    parser.add_argument("--password", default="bob-demo-pass")
    parser.add_argument("--n", type=int, default=len(QUESTIONS))
    args = parser.parse_args()
    session = login(args.url, args.user, args.password)
    ws_url = args.url.replace("http", "ws", 1) + "/ws/chat/"
    firsts, totals = [], []
    for index in range(args.n):
        question = QUESTIONS[index % len(QUESTIONS)]
        first, total, citations = asyncio.run(ask(ws_url, args.url, session, question))
        firsts.append(first)
        totals.append(total)
        print(f"ttft={first:.3f}s total={total:.2f}s citations={citations}  {question}")
    ttft, total = statistics.median(firsts), statistics.median(totals)
    print(f"questions={len(firsts)} ttft_p50_s={ttft:.3f} total_p50_s={total:.2f}")


if __name__ == "__main__":
    main()
