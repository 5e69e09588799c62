"""Ingestion through real Celery worker processes and the real Redis broker."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection

from knowledge.documents import document_create
from knowledge.models import Chunk, Document
from ragsite.celery import app as celery_app
from tests.office_files import zip_bomb_docx
from tests.pdfs import encrypted_pdf
from tests.services import database_url_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
DONE = {Document.Status.READY, Document.Status.FAILED}


@pytest.fixture
def start_worker():
    processes: list[subprocess.Popen] = []

    def start(log=None) -> subprocess.Popen:
        """`log`: an open file that receives the worker's INFO log (which tasks it ran)."""
        env = dict(
            os.environ,
            DATABASE_URL=database_url_for(connection.settings_dict["NAME"]),
            CELERY_TASK_ALWAYS_EAGER="0",
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            EMBEDDING_MODELS_DIR=str(settings.EMBEDDING_MODELS_DIR),
            EMBEDDING_BUILD_BATCH="8",
            # a killed worker's task comes back after 3 s, not the production hour
            CELERY_VISIBILITY_TIMEOUT="3",
            CELERY_RESTORE_INTERVAL="1",
            MAX_UNPACKED_BYTES="10000000",
            QUEUE_SWEEP_S="1",
            INGEST_STALE_S="20",
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "ragsite", "worker", "--pool", "solo",
             "--loglevel", "INFO" if log else "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
        processes.append(process)
        return process

    celery_app.conf.task_always_eager = False
    yield start
    celery_app.conf.task_always_eager = True
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


STALL_S = 300  # nothing moved for this long: stuck, however slow the machine


def wait_for(predicate, *, progress=lambda: None, what: str = "condition"):
    """Wait on progress, not on a total time: a slow machine takes longer, a stuck one stops moving.

    `progress` returns anything that changes while the work moves (a count, a status); the wait
    fails only after STALL_S seconds without a change. A worker's start (loading torch and the
    model) counts as one step, hence the generous allowance.
    """
    last, moved = progress(), time.monotonic()
    while not (result := predicate()):
        now = progress()
        if now != last:
            last, moved = now, time.monotonic()
        elif time.monotonic() - moved > STALL_S:
            raise AssertionError(f"nothing moved for {STALL_S} s waiting for {what} (last progress: {last!r})")
        time.sleep(0.1)
    return result


def finished(document_id: int) -> Document:
    def state():
        return Document.objects.filter(pk=document_id).values_list("status", "chunks_embedded").first()

    return wait_for(
        lambda: Document.objects.filter(pk=document_id, status__in=DONE).first(), progress=state, what="ingestion"
    )


def upload(name: str, data: bytes) -> Document:
    return document_create(file=ContentFile(data, name=name))


def test_real_worker_ingests_uploads_and_survives_hostile_files(start_worker):
    worker = start_worker()
    hostile = [
        upload("empty.md", b""),
        upload("bomb.docx", zip_bomb_docx(30_000_000)),
        upload("locked.pdf", encrypted_pdf("Salaries")),
        upload("latin1.txt", "Année".encode("latin-1")),
    ]
    good = upload("travel.md", b"# Travel\n\nTrains under 5 hours.")
    assert Document.objects.get(pk=good.pk).status in {Document.Status.QUEUED, Document.Status.PROCESSING}
    good = finished(good.pk)
    assert good.status == Document.Status.READY, good.error
    assert good.chunks.count() == 1
    for document in hostile:
        document = finished(document.pk)
        assert document.status == Document.Status.FAILED and document.error
    assert worker.poll() is None, "the worker survives every bad file"


def test_worker_killed_mid_document_leaves_one_consistent_set_after_restart(start_worker):
    text = "\n\n".join(
        f"# Rule {i}\n\n" + f"Employees must follow travel rule {i} carefully. " * 12 for i in range(400)
    )
    first = start_worker()
    document = upload("long.md", text.encode())
    wait_for(
        lambda: Document.objects.filter(pk=document.pk, chunks_embedded__gt=0, status="processing").exists(),
        progress=lambda: Document.objects.filter(pk=document.pk).values_list("status").first(),
        what="embedding to start",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    stalled = Document.objects.get(pk=document.pk)
    assert stalled.status == Document.Status.PROCESSING and stalled.chunks_embedded < stalled.chunks_total
    assert not stalled.chunks.exists(), "nothing half-written"
    start_worker()
    document = finished(document.pk)
    assert document.status == Document.Status.READY, document.error
    ordinals = list(Chunk.objects.filter(document=document).values_list("ordinal", flat=True))
    assert sorted(ordinals) == list(range(document.chunks_total))


def test_a_document_whose_task_was_lost_with_the_queue_is_queued_again_by_the_next_worker(start_worker):
    """The worker killed mid-document and the broker's data gone with it (a Redis without persistence):
    the database still says processing, and the next worker's sweep queues it again."""
    import redis

    text = "\n\n".join(f"# Rule {i}\n\n" + f"Staff must follow office rule {i} always. " * 12 for i in range(300))
    first = start_worker()
    document = upload("rules.md", text.encode())
    wait_for(
        lambda: Document.objects.filter(pk=document.pk, chunks_embedded__gt=0, status="processing").exists(),
        progress=lambda: Document.objects.filter(pk=document.pk).values_list("status").first(),
        what="embedding to start",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    redis.Redis.from_url(settings.REDIS_URL).flushall()
    start_worker()
    document = finished(document.pk)
    assert document.status == Document.Status.READY, document.error
    ordinals = list(Chunk.objects.filter(document=document).values_list("ordinal", flat=True))
    assert sorted(ordinals) == list(range(document.chunks_total)), "one set of chunks"


def test_two_workers_share_the_queue_and_each_document_gets_one_set_of_chunks(start_worker, tmp_path):
    logs = [open(tmp_path / f"worker{i}.log", "w") for i in range(2)]  # noqa: SIM115 - closed below
    for log in logs:
        start_worker(log)
    documents = [
        upload(
            f"policy-{i}.md",
            "\n\n".join(f"# Part {p}\n\nPolicy {i} rule {p} applies. " * 30 for p in range(8)).encode(),
        )
        for i in range(6)
    ]
    for document in documents:
        document = finished(document.pk)
        assert document.status == Document.Status.READY, document.error
        ordinals = sorted(Chunk.objects.filter(document=document).values_list("ordinal", flat=True))
        assert ordinals == list(range(document.chunks_total))
    for log in logs:
        log.close()
    ran = [
        len(re.findall(r"ingest_document\[[^\]]+\] succeeded in", (tmp_path / f"worker{i}.log").read_text()))
        for i in range(2)
    ]
    assert sum(ran) == len(documents) and min(ran) >= 1, f"both workers took documents: {ran}"


def test_an_upload_while_redis_is_away_waits_and_is_ingested_when_it_is_back(start_worker):
    from ragsite.embedded import start_redis
    from tests.services import _state

    celery_app.conf.task_always_eager = False
    redis = _state["redis"]
    redis.stop()
    try:
        document = upload("travel.md", b"# Travel\n\nTrains under 5 hours.")  # no exception: the upload is kept
        waiting = Document.objects.get(pk=document.pk)
        assert waiting.status == Document.Status.QUEUED and "Waiting for the task queue" in waiting.error
    finally:
        _state["redis"] = start_redis(redis.socket_path.parent)  # the same socket, as after a Redis restart
    worker = start_worker()
    document = finished(document.pk)
    assert document.status == Document.Status.READY and document.error == ""
    assert document.chunks.count() == 1
    assert worker.poll() is None


def test_worker_killed_while_switching_embedding_models_resumes_and_switches_once(start_worker, settings, tmp_path):
    import numpy as np

    from knowledge import embedding, embedding_models
    from knowledge.chunking import embedding_text
    from knowledge.ingestion import documents_ingest
    from knowledge.tasks import build_embedding_model
    from knowledge.tuning.pairs import Pair
    from knowledge.tuning.training import TrainingOptions, save, train

    settings.EMBEDDING_MODELS_DIR = tmp_path / "models"
    pairs = [Pair(f"What does rule {i} say?", f"Rule {i}\nEmployees follow rule {i}.", "file") for i in range(6)]
    save(train(pairs, base=embedding.MODEL_NAME, options=TrainingOptions(epochs=2, batch_size=3), progress=False),
         name="tuned", manifest={})  # fmt: skip
    embedding_models.register("tuned", base_model=embedding.MODEL_NAME, manifest={})
    text = "\n\n".join(f"# Rule {i}\n\nEmployees must follow travel rule {i} carefully." for i in range(120))
    document = document_create(file=ContentFile(text.encode(), name="rules.md"), schedule=False)
    documents_ingest(document_ids=[document.pk])
    total = Chunk.objects.count()
    embedding_models.activation_start("tuned", force=True)
    build_embedding_model.delay("tuned")
    first = start_worker()

    def built() -> int:
        return Chunk.objects.filter(embedding_next_model="tuned").count()

    wait_for(lambda: built() >= 24, progress=built, what="the build to start")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert embedding_models.active_name() == embedding.MODEL_NAME, "questions still use the old vectors"
    assert Chunk.objects.filter(embedding_next_model="tuned").count() < total
    start_worker()
    wait_for(lambda: embedding_models.active_name() == "tuned", progress=built, what="the switch")
    chunks = list(Chunk.objects.order_by("pk"))
    assert len(chunks) == total and {c.embedding_model for c in chunks} == {"tuned"}
    expected = embedding.encode([embedding_text(c.heading_path, c.text) for c in chunks], model="tuned")
    assert np.allclose(np.array([c.embedding for c in chunks]), expected, atol=1e-5)


def test_an_upload_by_api_is_ingested_by_the_worker_and_answered_through_the_api(start_worker, people):
    """Daphne, the real worker and the broker: the API's upload queues, the worker makes it ready."""
    import httpx
    from django.contrib.auth.models import User

    from knowledge.tokens import token_create
    from tests.processes import Daphne

    start_worker()
    staff = User.objects.create_superuser("root", password="pw-root-123")
    env = dict(
        os.environ,
        DATABASE_URL=database_url_for(connection.settings_dict["NAME"]),
        CELERY_TASK_ALWAYS_EAGER="0",
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        LLM_BASE_URL="",
        ANSWER_MODE="extractive",
    )
    server = Daphne(env)
    server.start()
    try:
        headers = {"Authorization": f"Bearer {token_create(user=staff, scopes=['documents'])}"}
        text = b"# Parking\n\n## Fees\n\nParking in the staff garage costs 4 EUR a day."
        made = httpx.post(f"{server.url}/api/documents", headers=headers, files={"file": ("parking.md", text)})
        assert made.status_code == 201 and made.json()["status"] in {"queued", "processing", "ready"}, made.text
        url = f"{server.url}/api/documents/{made.json()['id']}"
        wait_for(
            lambda: httpx.get(url, headers=headers).json()["status"] in DONE,
            progress=lambda: httpx.get(url, headers=headers).json()["chunks_embedded"],
            what="the upload's ingestion",
        )
        assert httpx.get(url, headers=headers).json()["status"] == "ready"
        answer = httpx.post(
            f"{server.url}/api/ask",
            json={"question": "How much does parking in the staff garage cost?"},
            headers={"Authorization": f"Bearer {token_create(user=people.bob)}"},
            timeout=120,
        ).json()
        assert "4 EUR a day" in answer["answer"] and answer["citations"][0]["document_id"] == made.json()["id"]
    finally:
        server.stop()
