"""Capacity: the highest arrival rate of questions whose p95 time to first token stays under 1 s,
and the CPU each process spends per answer.

Usage: .venv/bin/python bench/capacity.py [--rates 1,2,4,6,8] [--duration 20] [--web 1] [--plot docs/capacity.png]

Starts a throw-away PostgreSQL and Redis, ingests the demo handbook, and runs `--web` Daphne
processes (as `make run` does) and one Celery worker, pointed at a scripted model server
(bench/load.py's: `--tokens` tokens at `--rate` per second, so the app is measured, not a model;
its answer opens with a whole five-token sentence, since the page shows checked sentences only).
With two web processes the load generator sends each session to one of them in turn, as a
round-robin proxy would.

Open loop: for each arrival rate, questions arrive as a Poisson process for `--duration`
seconds, each from one of `--sessions` connected people who think between questions (an idle
session takes the question; when none is idle it waits for one, and the wait counts: time to
first token runs from the question's arrival, so an overloaded server shows as slow, never as
fewer questions). The sweep stops after the first rate whose p95 exceeds `--stop-above` seconds.
CPU seconds per process (web, worker, PostgreSQL with its backends, Redis, the model server
and this load generator) are read from /proc before and after each rate, so the cost per
answer does not depend on how busy the machine was.
`--burst N` first runs bench/load.py's burst (N sessions asking at the same instant) for reference.
The last line is `capacity_answers_per_s=<x> web_cpu_ms_per_answer=<y>`: the highest rate with
p95 under 1 s and no errors, and the web processes' CPU per answer at that rate. Before the
rates, the sockets stay open for half a duration with no question: what idle sockets cost.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from load import ask, free_port, percentile, prepare, run_level, serve_fixed_rate_llm, server_env, wait_for_port
from scratch import ROOT, scratch_django
from ttft import QUESTIONS

ASGI_APP = "ragsite.asgi:application"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, descendants: bool = True) -> float:
    """The process's own CPU, its reaped children's, and its live descendants' (PostgreSQL's backends):
    a child's time moves into its parent's cutime when it is reaped, so nothing counts twice."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(v) for v in fields[11:15]) / TICKS  # utime stime cutime cstime
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split() if descendants else []
        for child in children:
            total += cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return total


@dataclass
class Rate:
    rate: float
    ttfts: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    answers: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def p95(self) -> float:
        return percentile(self.ttfts, 0.95)


async def open_loop(urls: list[str], origins: list[str], keys: list[str], rate: float, duration_s: float) -> Rate:
    """Poisson arrivals at `rate` per second; each question goes to whichever session is idle."""
    import websockets

    result = Rate(rate)
    idle: asyncio.Queue = asyncio.Queue()
    sockets = []
    for i, key in enumerate(keys):
        url, origin = urls[i % len(urls)], origins[i % len(origins)]
        headers = {"Cookie": f"sessionid={key}", "Origin": origin}
        sockets.append(await websockets.connect(url, additional_headers=headers, open_timeout=30))
        idle.put_nowait(sockets[-1])
    chance = random.Random(f"{rate}")
    arrivals, at = [], 0.0
    while rate and (at := at + chance.expovariate(rate)) < duration_s:
        arrivals.append(at)

    async def one(number: int, due: float, started: float) -> None:
        await asyncio.sleep(max(0.0, started + due - time.perf_counter()))
        arrived = time.perf_counter()
        socket_ = await idle.get()
        try:
            first = await ask(socket_, QUESTIONS[number % len(QUESTIONS)], arrived, result.errors)
            if first is not None:
                result.ttfts.append(first)
            result.answers += 1
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            result.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            idle.put_nowait(socket_)

    started = time.perf_counter()
    questions = [one(n, due, started) for n, due in enumerate(arrivals)]
    await asyncio.gather(*questions, asyncio.sleep(0 if rate else duration_s))
    result.wall_s = time.perf_counter() - started
    for socket_ in sockets:
        await socket_.close()
    return result


def memory_mb(pid: int) -> float:
    """Proportional set size of the process and its descendants: shared pages counted once overall."""
    total = 0.0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) / 1024
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += memory_mb(int(child))
    except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
        pass
    return total


def spend(pids: dict[str, list[int]]) -> dict[str, float]:
    """The load generator is this process, whose children are the servers: its own CPU only."""
    return {
        role: sum(cpu_seconds(p, descendants=role != "load_generator") for p in group) for role, group in pids.items()
    }


def plot(results: list[Rate], out: Path, title: str, baseline: list[dict] | None = None) -> None:
    """p50/p95 against the arrival rate; `baseline`: another run's `--json`, drawn dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4), dpi=110)
    rates = [r.rate for r in results]
    axes.plot(rates, [statistics.median(r.ttfts) if r.ttfts else float("nan") for r in results], "o-", label="p50")
    axes.plot(rates, [r.p95 for r in results], "s-", label="p95")
    if baseline:
        rates_before = [r["rate"] for r in baseline]
        axes.plot(rates_before, [r["ttft_p50_s"] for r in baseline], "o--", color="C0", alpha=0.5, label="p50 before")
        axes.plot(rates_before, [r["ttft_p95_s"] for r in baseline], "s--", color="C1", alpha=0.5, label="p95 before")
    axes.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="1 s")
    axes.set_yscale("log")
    axes.set_xlabel("questions arriving per second (Poisson)")
    axes.set_ylabel("time to first token (s)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="2,4,8,12,16,20,24,28,32", help="arrival rates to try, questions per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of arrivals per rate")
    parser.add_argument("--sessions", type=int, default=100, help="connected people the questions come from")
    parser.add_argument("--web", type=int, default=1, choices=[1, 2], help="web (Daphne) processes")
    parser.add_argument("--tokens", type=int, default=20, help="tokens per answer from the model server")
    parser.add_argument("--rate", type=float, default=20.0, help="tokens per second from the model server")
    parser.add_argument("--stop-above", type=float, default=3.0, help="stop after a rate whose p95 exceeds this")
    parser.add_argument("--burst", type=int, default=0, help="first, N sessions asking at once (reference)")
    parser.add_argument("--plot", type=Path, help="draw time to first token against the arrival rate (PNG)")
    parser.add_argument("--json", type=Path, help="write every rate's figures here")
    parser.add_argument("--baseline", type=Path, help="another run's --json, drawn dashed in the plot")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    llm_port = free_port()
    llm = multiprocessing.get_context("spawn").Process(
        target=serve_fixed_rate_llm, args=(llm_port, args.tokens, args.rate, True), daemon=True
    )
    llm.start()
    results: list[Rate] = []
    with scratch_django() as scratch:
        from ragsite.embedded import start_redis

        redis = start_redis(scratch / "redis")
        servers: list[subprocess.Popen] = []
        try:
            keys = prepare(max(args.sessions, args.burst))
            env = server_env(redis.url, llm_port)
            devnull = subprocess.DEVNULL
            quiet = {"cwd": ROOT, "stdin": devnull, "stdout": devnull, "stderr": devnull}
            ports = [free_port() for _ in range(args.web)]
            for port in ports:
                command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), ASGI_APP]
                servers.append(subprocess.Popen(command, env=env, **quiet))
            worker_command = [sys.executable, "-m", "celery", "-A", "ragsite", "worker", "--concurrency", "1",
                              "--without-gossip", "--without-mingle", "-l", "WARNING"]  # fmt: skip
            worker = subprocess.Popen(worker_command, env=env, **quiet)
            servers.append(worker)
            for port, server in zip(ports, servers, strict=False):
                wait_for_port(port, server)
            wait_for_port(llm_port, llm)
            urls = [f"ws://127.0.0.1:{p}/ws/chat/" for p in ports]
            origins = [f"http://127.0.0.1:{p}" for p in ports]
            for url, origin in zip(urls, origins, strict=True):
                asyncio.run(run_level(url, origin, keys, 2, 2))  # models loaded, caches warm
            postmaster = int((scratch / "pgdata" / "postmaster.pid").read_text().split()[0])
            pids = {
                "web": [s.pid for s in servers[:-1]],
                "worker": [worker.pid],
                "postgres": [postmaster],
                "redis": [redis.process.pid],
                "model_server": [llm.pid],
                "load_generator": [os.getpid()],
            }
            print(
                f"web processes: {args.web}; model server: {args.tokens} tokens at {args.rate:g}/s; "
                f"{args.sessions} sessions; {args.duration:g} s of arrivals per rate; cpus={os.cpu_count()}"
            )
            if args.burst:
                before = spend(pids)
                level = asyncio.run(run_level(urls[0], origins[0], keys, args.burst, 3))
                web_ms = (spend(pids)["web"] - before["web"]) * 1000 / max(1, level.answers)
                print(
                    f"burst sessions={args.burst} answers={level.answers} errors={len(level.errors)} "
                    f"ttft_p95_s={percentile(level.ttfts, 0.95):.3f} answers_per_s={level.answers / level.wall_s:.2f} "
                    f"web_cpu_ms_per_answer={web_ms:.0f}",
                    flush=True,
                )
            before = spend(pids)
            idle = asyncio.run(open_loop(urls, origins, keys[: args.sessions], 0, args.duration / 2))
            idle_web_ms_per_s = 1000 * (spend(pids)["web"] - before["web"]) / idle.wall_s
            print(f"idle: {args.sessions} sockets open, no questions: web_cpu_ms_per_s={idle_web_ms_per_s:.1f}")
            for rate in rates:
                before = spend(pids)
                result = asyncio.run(open_loop(urls, origins, keys[: args.sessions], rate, args.duration))
                after = spend(pids)
                result.cpu_s = {role: after[role] - before[role] for role in pids}
                results.append(result)
                per_answer = " ".join(
                    f"{role}={seconds * 1000 / max(1, result.answers):.0f}" for role, seconds in result.cpu_s.items()
                )
                print(
                    f"rate={rate:g} answers={result.answers} errors={len(result.errors)} "
                    f"ttft_p50_s={statistics.median(result.ttfts) if result.ttfts else float('nan'):.3f} "
                    f"ttft_p95_s={result.p95:.3f} served_per_s={result.answers / result.wall_s:.2f}\n"
                    f"  cpu_ms_per_answer: {per_answer}",
                    flush=True,
                )
                for error in sorted(set(result.errors))[:3]:
                    print(f"  error: {error}")
                if result.p95 > args.stop_above or not result.ttfts:
                    break
            memory = " ".join(
                f"{role}={sum(memory_mb(p) for p in group):.0f}"
                for role, group in pids.items()
                if role in ("web", "worker", "postgres", "redis")
            )
            print(f"memory_mb (PSS, after the run): {memory}")
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(30)
            redis.stop()
            llm.terminate()
    within = [r for r in results if r.p95 < 1.0 and not r.errors]
    capacity = max((r.rate for r in within), default=0.0)
    at_capacity = next((r for r in within if r.rate == capacity), results[0] if results else None)
    web_ms = 1000 * at_capacity.cpu_s.get("web", 0.0) / max(1, at_capacity.answers) if at_capacity else float("nan")
    if args.json:
        args.json.write_text(
            json.dumps(
                [{"rate": r.rate, "answers": r.answers, "errors": len(r.errors), "ttft_p95_s": r.p95,
                  "ttft_p50_s": statistics.median(r.ttfts) if r.ttfts else None, "cpu_s": r.cpu_s, "wall_s": r.wall_s}
                 for r in results],
                indent=1,
            )
        )  # fmt: skip
    if args.plot and results:
        baseline = json.loads(args.baseline.read_text()) if args.baseline else None
        title = f"{args.web} web process(es), {os.cpu_count()} cores: capacity {capacity:g} answers/s"
        plot(results, args.plot, title, baseline)
    print(f"capacity_answers_per_s={capacity:g} web_cpu_ms_per_answer={web_ms:.0f}")


if __name__ == "__main__":
    main()
