"""Creating documents and scheduling their ingestion after the transaction commits."""

from pathlib import PurePath

from django.contrib.auth.models import Group
from django.core.files.base import File
from django.db import transaction

from knowledge.models import Document


def title_from_filename(name: str) -> str:
    stem = PurePath(name.replace("\\", "/")).stem
    return stem.replace("_", " ").replace("-", " ").strip().capitalize() or "Untitled document"


def document_schedule_ingest(*, document_id: int) -> None:
    """Queue ingestion once the row (and its file) is committed, so the worker can see it."""
    from knowledge.tasks import ingest_document

    Document.objects.filter(pk=document_id).update(status=Document.Status.QUEUED, error="")
    transaction.on_commit(lambda: ingest_document.delay(document_id))


def document_create(
    *,
    file: File,
    title: str = "",
    visibility: str = Document.Visibility.EVERYONE,
    groups: list[Group] | None = None,
    uploaded_by=None,
) -> Document:
    name = PurePath((file.name or "upload").replace("\\", "/")).name
    with transaction.atomic():
        document = Document(
            title=title or title_from_filename(name),
            original_name=name,
            visibility=visibility,
            uploaded_by=uploaded_by,
        )
        document.file.save(name, file, save=False)
        document.save()
        if groups:
            document.groups.set(groups)
        document_schedule_ingest(document_id=document.pk)
    return document
