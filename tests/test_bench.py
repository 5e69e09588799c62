"""Bench scripts run at a tiny size, so none rots unnoticed (the figures themselves are not checked)."""

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
