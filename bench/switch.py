"""Switching the knowledge base to another embedding model while questions go on.

Usage: .venv/bin/python bench/switch.py [--chunks 5000] [--batch 256]
Fills a throw-away database with synthetic chunks, then activates a copy of the packaged
model (the same cost as a tuned one) while a second thread asks questions without pause.
Prints the re-embedding rate, how long the final swap held the chunk table, question latency
before and during the build (query embedding included), errors, and whether any question
saw vectors of two models. Then rolls back and times that. The last line is
`chunks=<n> build_chunks_per_s=<x> swap_s=<y> ask_p95_during_ms=<z> errors=<e> mixed=<m> rollback_s=<r>`.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from scratch import scratch_django

QUESTIONS = ["term3 term150", "term7 term900", "term1 term42 term2000", "term12 term77"]


def fill(count: int) -> None:
    from django.db import connection
    from pgvector.psycopg import register_vector

    from knowledge import embedding
    from knowledge.models import Document

    rng = np.random.default_rng(1)
    documents = [Document(title=f"Doc {d}", status="ready", chunks_total=20) for d in range(count // 20)]
    ids = [d.pk for d in Document.objects.bulk_create(documents)]
    words = rng.zipf(1.3, size=(count, 60)) % 20_000
    vectors = rng.normal(size=(count, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with connection.cursor() as cursor:
        register_vector(cursor.connection)
        with cursor.connection.cursor().copy(
            "COPY knowledge_chunk (document_id, ordinal, text, heading_path, char_start, char_end, token_count,"
            " embedding, embedding_model, embedding_next_model) FROM STDIN"
        ) as copy:
            for n in range(count):
                text = " ".join(f"term{w}" for w in words[n])
                copy.write_row((ids[n // 20], n % 20, text, f"Part {n // 20}", 0, len(text), 60, vectors[n],
                                embedding.MODEL_NAME, ""))  # fmt: skip
        cursor.execute("ANALYZE")


def asker(stop: threading.Event, latencies: list[float], errors: list[str], models: set) -> None:
    from django.contrib.auth.models import User
    from django.db import connections

    from knowledge.models import Chunk
    from knowledge.retrieval import search

    user = User.objects.get(username="reader")
    n = 0
    try:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                passages = search(user, QUESTIONS[n % len(QUESTIONS)], k=4)
                ids = [p.chunk_id for p in passages]
                found = set(Chunk.objects.filter(pk__in=ids).values_list("embedding_model", flat=True))
                models.update(found)
                if len(found) > 1:
                    errors.append(f"one answer mixed vectors of {sorted(found)}")
                if not passages:
                    errors.append("no passages")
            except Exception as exc:  # noqa: BLE001 - counted and shown
                errors.append(repr(exc))
            latencies.append((time.perf_counter() - started) * 1000)
            n += 1
    finally:
        connections.close_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    models_dir = Path(tempfile.mkdtemp(prefix="ragsite-bench-models-"))
    os.environ["EMBEDDING_MODELS_DIR"] = str(models_dir)
    with scratch_django():
        from django.contrib.auth.models import User

        from knowledge import embedding, embedding_models

        shutil.copytree(embedding.model_path(embedding.MODEL_NAME), models_dir / "bench-copy")
        embedding_models.register("bench-copy", base_model=embedding.MODEL_NAME, manifest={"packaged": True})
        User.objects.create_superuser("reader", password=None)
        fill(args.chunks)
        embedding.get_model("bench-copy")

        before: list[float] = []
        stop, errors, seen = threading.Event(), [], set()
        thread = threading.Thread(target=asker, args=(stop, before, errors, seen))
        thread.start()
        time.sleep(5)
        stop.set()
        thread.join()

        during: list[float] = []
        stop, seen_during = threading.Event(), set()
        thread = threading.Thread(target=asker, args=(stop, during, errors, seen_during))
        thread.start()
        started = time.perf_counter()
        embedding_models.activation_start("bench-copy")
        swap_s = 0.0
        while True:
            step_started = time.perf_counter()
            if not embedding_models.build_step("bench-copy", batch_size=args.batch):
                swap_s = time.perf_counter() - step_started
                break
        build_s = time.perf_counter() - started
        time.sleep(1)
        stop.set()
        thread.join()
        assert embedding_models.active_name() == "bench-copy"

        started = time.perf_counter()
        embedding_models.activation_start(embedding_models.rollback_target().name, force=True)
        embedding_models.build(embedding.MODEL_NAME, batch_size=args.batch)
        rollback_s = time.perf_counter() - started
        mixed = sum(1 for e in errors if e.startswith("one answer mixed"))
        assert embedding_models.active_name() == embedding.MODEL_NAME

    shutil.rmtree(models_dir, ignore_errors=True)

    def p(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    print(f"questions before: {len(before)}, p50 {statistics.median(before):.1f} ms, p95 {p(before, 95):.1f} ms")
    print(f"questions during: {len(during)}, p50 {statistics.median(during):.1f} ms, p95 {p(during, 95):.1f} ms")
    print(f"models seen by questions during the build: {sorted(seen_during)}; errors: {errors[:3]}")
    print(f"build of {args.chunks} chunks {build_s:.1f} s; its last step (the swap) {swap_s:.2f} s")
    print(
        f"chunks={args.chunks} build_chunks_per_s={args.chunks / build_s:.1f} swap_s={swap_s:.2f} "
        f"ask_p95_during_ms={p(during, 95):.1f} errors={len(errors)} mixed={mixed} rollback_s={rollback_s:.2f}"
    )


if __name__ == "__main__":
    main()
