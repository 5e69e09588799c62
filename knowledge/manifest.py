"""`versions.toml` beside a folder's documents: which file is a newer version of which, and when each is in force.

    [[document]]
    file = "archive/leave-2025.md"
    effective_from = 2025-01-01

    [[document]]
    file = "leave.md"
    supersedes = "archive/leave-2025.md"
    effective_from = 2026-01-01

It is read whole and checked before anything is ingested, so a mistake stops the import
with the line to fix instead of leaving half the versions linked.
"""

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from knowledge.models import Document

MANIFEST_NAME = "versions.toml"
_KEYS = {"file", "supersedes", "effective_from", "effective_until"}


class ManifestError(Exception):
    """The manifest cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class VersionEntry:
    file: str
    supersedes: str | None
    effective_from: date | None
    effective_until: date | None


def manifest_read(root: Path) -> list[VersionEntry]:
    path = root / MANIFEST_NAME
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{MANIFEST_NAME} is not valid TOML: {exc}") from None
    rows = data.get("document", [])
    if set(data) - {"document"} or not isinstance(rows, list):
        raise ManifestError(f"{MANIFEST_NAME} holds only [[document]] tables.")
    entries = [_entry(root, number, row) for number, row in enumerate(rows, start=1)]
    files = [e.file for e in entries]
    if len(set(files)) != len(files):
        raise ManifestError(f"{MANIFEST_NAME} names a file twice.")
    successor = {e.supersedes: e.file for e in entries if e.supersedes}
    if len(successor) != sum(1 for e in entries if e.supersedes):
        raise ManifestError(f"{MANIFEST_NAME}: two documents supersede the same file.")
    for entry in entries:
        seen, current = {entry.file}, entry.supersedes
        while current:
            if current in seen:
                raise ManifestError(f"{MANIFEST_NAME}: the versions of {entry.file} form a loop.")
            seen.add(current)
            current = next((e.supersedes for e in entries if e.file == current), None)
    return entries


def _entry(root: Path, number: int, row) -> VersionEntry:
    where = f"{MANIFEST_NAME} document {number}"
    if not isinstance(row, dict) or not isinstance(row.get("file"), str):
        raise ManifestError(f'{where} needs file = "path/inside/the/folder".')
    if unknown := set(row) - _KEYS:
        raise ManifestError(f"{where}: unknown key {', '.join(sorted(unknown))}.")
    for key in ("file", "supersedes"):
        if key in row and not _inside(root, row[key]):
            raise ManifestError(f"{where}: {key} {row[key]!r} is not a file in the folder.")
    for key in ("effective_from", "effective_until"):
        if key in row and not (isinstance(row[key], date) and not hasattr(row[key], "hour")):
            raise ManifestError(f"{where}: {key} must be a date like 2026-01-01.")
    supersedes = _relative(root, row["supersedes"]) if "supersedes" in row else None
    entry = VersionEntry(
        _relative(root, row["file"]), supersedes, row.get("effective_from"), row.get("effective_until")
    )
    if entry.supersedes == entry.file:
        raise ManifestError(f"{where}: a document cannot supersede itself.")
    if entry.effective_from and entry.effective_until and entry.effective_until < entry.effective_from:
        raise ManifestError(f"{where}: effective_until is before effective_from.")
    return entry


def _inside(root: Path, relative) -> bool:
    if not isinstance(relative, str) or not relative:
        return False
    path = (root / relative).resolve()
    return path.is_file() and root.resolve() in path.parents and path.name != MANIFEST_NAME


def _relative(root: Path, relative: str) -> str:
    return (root / relative).resolve().relative_to(root.resolve()).as_posix()


def manifest_apply(entries: list[VersionEntry], documents: dict[str, Document]) -> None:
    """`documents` maps each file's path relative to the folder to its document."""
    for entry in entries:
        Document.objects.filter(pk=documents[entry.file].pk).update(
            supersedes=documents[entry.supersedes].pk if entry.supersedes else None,
            effective_from=entry.effective_from,
            effective_until=entry.effective_until,
        )
