"""Bench scripts run at a tiny size, so none rots unnoticed (the figures themselves are not checked)."""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_the_ingestion_bench_runs_on_its_own_scratch_database_and_removes_it(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leave.md").write_text("# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days a year.")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    scratch = Path(tempfile.gettempdir())  # where bench/scratch.py makes its database
    before = set(scratch.glob("ragsite-bench-*"))
    result = subprocess.run(
        [sys.executable, "bench/ingest.py", str(docs), "--repeat", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"^end_to_end_over_encode=[\d.]+ chunks_per_s=[\d.]+$", result.stdout, re.MULTILINE)
    assert set(scratch.glob("ragsite-bench-*")) <= before, "the scratch database is deleted afterwards"


def test_the_search_bench_runs_at_a_tiny_size():
    """It crashed once the second vector column landed (its COPY lacked `embedding_next_model`)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    result = subprocess.run(
        [sys.executable, "bench/search.py", "--sizes", "200", "--queries", "3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"hybrid_p50_ms=[\d.]+ dense_p50_ms=[\d.]+ min_filtered_recall_at_10=[\d.]+", last)


def run_bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env or base, capture_output=True, text=True, timeout=600
    )


def test_the_tuning_bench_runs_at_a_tiny_size():
    result = run_bench("bench/finetune.py", "--pairs", "8", "--epochs", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "8 pairs" in result.stdout


def test_the_model_switch_bench_runs_at_a_tiny_size():
    result = run_bench("bench/switch.py", "--chunks", "40", "--batch", "20")
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"build of 40 chunks", result.stdout)


def test_the_load_bench_runs_at_a_tiny_size():
    result = run_bench("bench/load.py", "--sessions", "2", "--questions", "1", "--tokens", "3", "--rate", "100")
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^sessions=2 errors=0 ttft_p95_s=[\d.]+$", result.stdout, re.MULTILINE)


def test_the_capacity_bench_runs_at_a_tiny_size(tmp_path):
    plot = tmp_path / "capacity.png"
    result = run_bench(
        "bench/capacity.py", "--rates", "2,4", "--duration", "2", "--sessions", "3", "--tokens", "6", "--rate", "100",
        "--burst", "2", "--plot", str(plot), "--json", str(tmp_path / "rates.json"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^burst sessions=2 answers=6 errors=0 ", result.stdout, re.MULTILINE)
    assert re.search(r"^idle: 3 sockets open, no questions: web_cpu_ms_per_s=[\d.]+$", result.stdout, re.MULTILINE)
    assert re.search(r"^rate=2 answers=\d+ errors=0 ttft_p50_s=[\d.]+ ttft_p95_s=[\d.]+", result.stdout, re.MULTILINE)
    assert re.search(r"cpu_ms_per_answer: web=\d+ worker=\d+ postgres=\d+ redis=\d+", result.stdout)
    assert re.search(r"^memory_mb \(PSS, after the run\): web=[1-9]\d* worker=[1-9]", result.stdout, re.MULTILINE)
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"capacity_answers_per_s=[\d.]+ web_cpu_ms_per_answer=\d+", last)
    rates = json.loads((tmp_path / "rates.json").read_text())
    assert [r["rate"] for r in rates] == [2.0, 4.0] and all(r["cpu_s"]["web"] > 0 for r in rates)
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.django_db(transaction=True)
def test_the_first_token_bench_runs_against_a_server(people, ingest, llm_settings):
    from tests.processes import Daphne
    from tests.test_processes import server_env

    ingest("leave.md", "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days a year.")
    server = Daphne(server_env(llm_settings))
    server.start()
    try:
        result = run_bench(
            "bench/ttft.py", "--url", server.url, "--user", "bob", "--password", "pw-bob-123", "--n", "1",
            env=server_env(llm_settings),
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^questions=1 ttft_p50_s=[\d.]+ total_p50_s=[\d.]+$", result.stdout, re.MULTILINE)


@pytest.mark.django_db(transaction=True)
def test_the_api_bench_runs_against_a_server(people, ingest, llm_settings):
    from knowledge.tokens import token_create
    from tests.processes import Daphne
    from tests.test_processes import server_env

    ingest("leave.md", "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days a year.")
    env = {**server_env(llm_settings), "ANSWER_MODE": "extractive", "CHAT_FRAMES_PER_MINUTE": "1000"}
    server = Daphne(env)
    server.start()
    try:
        result = run_bench(
            "bench/api.py", "--url", server.url, "--password", "pw-bob-123", "--token", token_create(user=people.bob),
            "--n", "2", "--concurrency", "2", env=env,
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(
        r"^api_over_socket_first_frame=[\d.]+ api_answers_per_s=[\d.]+ socket_answers_per_s=[\d.]+$",
        result.stdout,
        re.MULTILINE,
    )


def test_the_retrieval_plot_is_drawn_from_reports(tmp_path):
    base = {"lexical": {"ndcg@10": 0.68}, "dense": {"ndcg@10": 0.66}, "hybrid": {"ndcg@10": 0.7},
            "hybrid_calibrated": {"ndcg@10": 0.73}, "bm25s": {"ndcg@10": 0.69}}  # fmt: skip
    tuned = {"lexical": {"ndcg@10": 0.68}, "dense": {"ndcg@10": 0.71}, "hybrid": {"ndcg@10": 0.75}}
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "tuned.json").write_text(json.dumps(tuned))
    out = tmp_path / "plot.svg"
    result = run_bench("bench/plot_retrieval.py", str(tmp_path / "base.json"), str(tmp_path / "tuned.json"),
                       "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    drawn = out.read_text()
    assert drawn.startswith("<svg") and drawn.count("<rect") == 1 + 4 + 3 + 2, "background, bars, legend"
    assert "0.700" in drawn and "0.750" in drawn and "0.730" not in drawn, "hybrid as configured, not calibrated"


def test_the_encoder_bench_runs_at_a_tiny_size():
    result = run_bench("bench/encoders.py", "--repeat", "1", "--texts", "4")
    assert result.returncode == 0, result.stderr[-2000:]
    onnx = r"^onnx\s+question_ms_p50=[\d.]+ paragraphs_per_s=[\d.]+ cosine_to_torch_min=(?:1\.0000|0\.99)"
    assert re.search(onnx, result.stdout, re.MULTILINE)
    assert re.search(r"^onnx_question_speedup=[\d.]+ onnx_batch_speedup=[\d.]+$", result.stdout, re.MULTILINE)
