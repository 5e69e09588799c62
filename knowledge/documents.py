"""Creating documents and scheduling their ingestion after the transaction commits."""

import hashlib
import logging
from datetime import timedelta
from pathlib import PurePath

from django.contrib.auth.models import Group
from django.core.files.base import File
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from knowledge.models import Chunk, Conflict, Document

logger = logging.getLogger(__name__)
WAITING_FOR_QUEUE = "Waiting for the task queue (Redis) to come back; ingestion starts then."


def title_from_filename(name: str) -> str:
    stem = PurePath(name.replace("\\", "/")).stem
    return stem.replace("_", " ").replace("-", " ").strip().capitalize() or "Untitled document"


def document_schedule_ingest(*, document_id: int, force: bool = False) -> None:
    """Queue ingestion once the row (and its file) is committed, so the worker can see it."""
    Document.objects.filter(pk=document_id).update(status=Document.Status.QUEUED, error="", queued_at=timezone.now())
    transaction.on_commit(lambda: _enqueue(document_id, force))


def _enqueue(document_id: int, force: bool) -> bool:
    """With the broker away the upload still succeeds; the document waits, marked, for `documents_requeue_waiting`."""
    from knowledge.tasks import ingest_document

    try:
        ingest_document.delay(document_id, force=force)
    except BrokerUnavailable:
        logger.warning("Task queue unreachable; document %s waits", document_id)
        Document.objects.filter(pk=document_id, status=Document.Status.QUEUED).update(error=WAITING_FOR_QUEUE)
        return False
    return True


def document_schedule_conflict_check(*, document_ids: list[int]) -> None:
    """After dates or versions change, which documents are in force together changes too."""
    from knowledge.tasks import detect_conflicts

    def enqueue() -> None:
        for document_id in document_ids:
            try:
                detect_conflicts.delay(document_id)
            except BrokerUnavailable:
                logger.warning(
                    "Task queue unreachable; conflicts of document %s are checked at its next ingestion", document_id
                )
                return

    transaction.on_commit(enqueue)


def documents_requeue_waiting() -> int:
    """Queue the documents whose upload found the broker away; the worker calls this while it runs."""
    waiting = Document.objects.filter(status=Document.Status.QUEUED, error=WAITING_FOR_QUEUE)
    queued = 0
    for document_id in waiting.values_list("pk", flat=True):
        if not _enqueue(document_id, force=False):
            break
        Document.objects.filter(pk=document_id, error=WAITING_FOR_QUEUE).update(error="")
        queued += 1
    return queued


STUCK_REASON = (
    "Processing stopped {n} times without finishing (the worker was stopped or ran out of memory); "
    "try “Re-ingest selected documents”, upload a smaller file, or ask an administrator to read the worker log."
)


def documents_requeue_stuck(*, stale_s: float, max_attempts: int) -> tuple[int, int]:
    """The database is the source of truth and the queue only a hint: a document processing with no
    sign of life for `stale_s` (its worker died), or queued that long (its task was lost with the
    broker), is queued again; after `max_attempts` such stops it fails with the reason in words.
    Ingestion is idempotent (one atomic swap of chunks), so a task that was only slow costs time,
    never a duplicate. Returns (queued again, failed)."""
    now = timezone.now()
    stale = now - timedelta(seconds=stale_s)
    dead = Q(status=Document.Status.PROCESSING) & (Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True))
    lost = Q(status=Document.Status.QUEUED, queued_at__lt=stale) & ~Q(error=WAITING_FOR_QUEUE)
    requeued = failed = 0
    for document in Document.objects.filter(dead | lost).only("pk", "status", "ingest_attempts"):
        attempts = document.ingest_attempts + (document.status == Document.Status.PROCESSING)
        if attempts >= max_attempts:
            document_fail(document_id=document.pk, reason=STUCK_REASON.format(n=attempts))
            failed += 1
            continue
        with transaction.atomic():
            claimed = Document.objects.filter(pk=document.pk, status=document.status).filter(dead | lost)
            if claimed.update(ingest_attempts=attempts):
                document_schedule_ingest(document_id=document.pk, force=True)
                requeued += 1
    return requeued, failed


def document_fail(*, document_id: int, reason: str) -> None:
    """A document that cannot be read has no chunks: nothing stale stays searchable."""
    with transaction.atomic():
        Chunk.objects.filter(document_id=document_id).delete()
        Conflict.objects.filter(Q(document_id=document_id) | Q(other_document_id=document_id)).delete()
        Document.objects.filter(pk=document_id).update(status=Document.Status.FAILED, error=reason, checksum="")


def document_delete(*, document_id: int) -> None:
    """Chunks go with the row; past citations keep their snapshot and lose the link; the file goes after commit."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return
    storage, name = document.file.storage, document.file.name
    document.delete()
    if name:
        transaction.on_commit(lambda: storage.delete(name))


def content_checksum(data: bytes) -> str:
    """What `Document.checksum` holds: ingestion skips, and uploads refuse, files already seen."""
    return hashlib.sha256(data).hexdigest()


def find_identical(data: bytes, *, among: QuerySet[Document], exclude_id: int | None = None) -> Document | None:
    """Another document of `among` whose last ingested file had exactly these bytes.

    `among` is what the uploader may read: naming, or even hinting at, an identical document
    they may not read would let them test guesses of its content (a record's figures) byte for byte.
    """
    return among.filter(checksum=content_checksum(data)).exclude(pk=exclude_id).first()


def document_create(
    *,
    file: File,
    title: str = "",
    visibility: str = Document.Visibility.EVERYONE,
    groups: list[Group] | None = None,
    readers: list | None = None,
    uploaded_by=None,
    source_path: str = "",
    schedule: bool = True,
) -> Document:
    """With `schedule=False` the caller ingests it itself (the folder command shows progress)."""
    with transaction.atomic():
        document = Document(visibility=visibility, uploaded_by=uploaded_by, source_path=source_path)
        document_describe_file(document, file_name=file.name or "upload", title=title)
        document.file.save(document.original_name, file, save=False)
        document.save()
        if groups:
            document.groups.set(groups)
        if readers:
            document.readers.set(readers)
        if schedule:
            document_schedule_ingest(document_id=document.pk)
    return document


def document_describe_file(document: Document, *, file_name: str, title: str = "") -> None:
    """The name a new file is known by, and the title a document without one takes from it
    (every upload path: the admin, `document_create`, folders and records)."""
    document.original_name = PurePath(file_name.replace("\\", "/")).name
    document.title = title or document.title or title_from_filename(document.original_name)


def document_upsert(
    *,
    source_path: str,
    file: File,
    title: str,
    visibility: str,
    groups: list[Group] | None = None,
    readers: list | None = None,
    keep_sharing: bool,
) -> Document:
    """The document stored from `source_path` (a folder's file, a person's record): created, or given the
    new file. With `keep_sharing` an existing document keeps its title and readers (an administrator may
    have changed them); without, they follow the caller (a record follows its person)."""
    with transaction.atomic():
        document = Document.objects.filter(source_path=source_path).first()
        if document is None:
            return document_create(
                file=file, title=title, visibility=visibility, groups=groups, readers=readers,
                source_path=source_path, schedule=False,
            )  # fmt: skip
        document_describe_file(document, file_name=file.name or "upload", title="" if keep_sharing else title)
        document.file.save(document.original_name, file, save=False)
        if not keep_sharing:
            document.visibility = visibility
        document.save()
        if not keep_sharing:
            document.groups.set(groups or [])
            document.readers.set(readers or [])
    return document
