"""Ingestion through a real Celery worker process and the real Redis broker."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection

from knowledge.documents import document_create
from knowledge.models import Document
from ragsite.celery import app as celery_app
from tests.services import database_url_for


@pytest.fixture
def worker():
    env = dict(
        os.environ,
        DATABASE_URL=database_url_for(connection.settings_dict["NAME"]),
        CELERY_TASK_ALWAYS_EAGER="0",
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ragsite", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    celery_app.conf.task_always_eager = False
    yield process
    celery_app.conf.task_always_eager = True
    process.terminate()
    process.wait(30)


def wait_for_status(document_id: int, statuses: set[str], timeout_s: float = 120) -> Document:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        document = Document.objects.get(pk=document_id)
        if document.status in statuses:
            return document
        time.sleep(0.2)
    raise AssertionError(f"document {document_id} still {document.status} after {timeout_s} s")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_worker_ingests_an_upload_enqueued_after_commit(worker):
    good = document_create(file=ContentFile(b"# Travel\n\nTrains under 5 hours.", name="travel.md"))
    bad = document_create(file=ContentFile(b"", name="empty.md"))
    assert Document.objects.get(pk=good.pk).status in {Document.Status.QUEUED, Document.Status.PROCESSING}
    good = wait_for_status(good.pk, {Document.Status.READY, Document.Status.FAILED})
    assert good.status == Document.Status.READY, good.error
    assert good.chunks.count() == 1
    bad = wait_for_status(bad.pk, {Document.Status.READY, Document.Status.FAILED})
    assert bad.status == Document.Status.FAILED and bad.error == "The file is empty."
    assert worker.poll() is None, "the worker survives a bad file"
