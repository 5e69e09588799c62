"""Ingest every file under a folder, recursively, updating what an earlier run ingested."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import Group
from django.core.files import File

from knowledge.conflicts import conflicts_detect
from knowledge.documents import document_upsert, title_from_filename
from knowledge.ingestion import documents_ingest
from knowledge.manifest import MANIFEST_NAME, manifest_apply, manifest_read
from knowledge.models import Document


@dataclass
class FolderReport:
    ready: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def folder_files(root: Path) -> Iterator[Path]:
    """Every document file; the versions manifest at the top is not one."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.as_posix() == MANIFEST_NAME:
            continue
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            yield path


def folder_ingest(
    *,
    root: Path,
    groups: list[Group] | None = None,
    on_file: Callable[[], None] = lambda: None,
) -> FolderReport:
    """Ingests in this process (the caller shows progress); a file ingested before from the same path is updated.

    Documents are stored a group at a time, each group in its own transaction, so an
    interrupted run keeps what it finished. A `versions.toml` in the folder links versions and sets their
    dates (`knowledge.manifest`); it is checked before anything is uploaded. Conflicts are
    looked for once every file is stored, so files of one folder are compared with each other.
    """
    versions = manifest_read(root)
    documents = {path.relative_to(root).as_posix(): _upsert(root, path, groups) for path in folder_files(root)}
    manifest_apply(versions, documents)
    checksums_before = {document.pk: document.checksum for document in documents.values()}
    documents_ingest(document_ids=[d.pk for d in documents.values()], on_done=lambda document_id: on_file())
    for document in documents.values():
        conflicts_detect(document_id=document.pk)
    report = FolderReport()
    for relative, document in documents.items():
        document.refresh_from_db()
        if document.status == Document.Status.FAILED:
            report.failed.append((relative, document.error))
        elif checksums_before[document.pk] == document.checksum:
            report.unchanged.append(relative)
        else:
            report.ready.append(relative)
    return report


def _upsert(root: Path, path: Path, groups: list[Group] | None) -> Document:
    with path.open("rb") as handle:
        return document_upsert(
            source_path=str(path.relative_to(root)),
            file=File(handle, name=path.name),
            title=title_from_filename(path.name),
            visibility=Document.Visibility.GROUPS if groups else Document.Visibility.EVERYONE,
            groups=groups,
            keep_sharing=True,
        )
