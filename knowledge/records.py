"""Personal records: one row per employee in a CSV becomes one small document that only that
employee and the HR group may read.

"How much annual leave do I have left?" needs the policy and the asker's own record; the
record is ordinary retrievable text, and `knowledge.access` keeps it to its owner and HR.
Importing again replaces each person's record (same source path), so balances stay current.
"""

import csv
import io
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile

from knowledge.access import RECORDS_PREFIX
from knowledge.documents import document_schedule_ingest, document_upsert
from knowledge.ingestion import documents_ingest
from knowledge.models import Document

MAX_RECORD_ROWS = 100_000
MAX_FIELD_CHARS = 500


class RecordsError(Exception):
    """The file cannot be imported at all; nothing was changed."""


@dataclass
class RecordsReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def records_import(data: bytes, *, kind: str, hr_group: str = "", schedule: bool = False) -> RecordsReport:
    """`kind` names the record ("Leave balance"); the CSV needs a `username` column.

    Ingests here unless `schedule`, which leaves it to the worker (the demo seeding does).
    """
    rows = _rows(data)
    hr, _ = Group.objects.get_or_create(name=hr_group or settings.HR_GROUP)
    users = {u.username: u for u in get_user_model().objects.filter(username__in=[r["username"] for _, r in rows])}
    report = RecordsReport()
    ids = []
    seen: set[str] = set()
    slug = "-".join(kind.lower().split())
    for line, row in rows:
        username = row["username"]
        user = users.get(username)
        if not username:
            report.skipped.append((line, "no username"))
        elif username in seen:
            report.skipped.append((line, f"{username} appears twice; the first row was used"))
        elif user is None:
            report.skipped.append((line, f"no user named {username!r}"))
        else:
            seen.add(username)
            ids.append(_upsert(user, row, kind=kind, slug=slug, hr=hr).pk)
            report.imported.append(username)
    if schedule:
        for document_id in ids:
            document_schedule_ingest(document_id=document_id)
    else:
        documents_ingest(document_ids=ids)
    return report


def _rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RecordsError("The file is not UTF-8 text.") from None
    if not text.strip():
        raise RecordsError("The file is empty.")
    try:
        reader = csv.DictReader(io.StringIO(text), strict=True)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "username" not in header:
            raise RecordsError("The first line must be a header with a 'username' column.")
        reader.fieldnames = header
        rows = []
        for row in reader:
            if len(rows) >= MAX_RECORD_ROWS:
                raise RecordsError(f"The file has more than {MAX_RECORD_ROWS} rows; split it.")
            if None in row:
                raise RecordsError(f"Line {reader.line_num} has more values than the header has columns.")
            values = {k: (v or "").strip() for k, v in row.items()}
            if any(len(v) > MAX_FIELD_CHARS for v in values.values()):
                raise RecordsError(f"Line {reader.line_num} has a value over {MAX_FIELD_CHARS} characters.")
            rows.append((reader.line_num, values))
    except csv.Error as exc:
        raise RecordsError(f"The file is not valid CSV ({exc}).") from None
    if not rows:
        raise RecordsError("The file has a header but no rows.")
    return rows


def record_text(user, row: dict[str, str], *, kind: str) -> str:
    name = user.get_full_name() or user.username
    facts = "\n".join(
        f"- {column.replace('_', ' ').capitalize()}: {_markdown_safe(value)}"
        for column, value in row.items()
        if column != "username" and value
    )
    return (
        f"# {kind}: {name}\n\nPersonal record of {name} (user {user.username}). Their own {kind.lower()}:\n\n{facts}\n"
    )


def _markdown_safe(value: str) -> str:
    return value.replace("\n", " ").replace("#", "").strip()


def _upsert(user, row: dict[str, str], *, kind: str, slug: str, hr: Group) -> Document:
    return document_upsert(
        source_path=f"{RECORDS_PREFIX}{slug}/{user.username}.md",
        file=ContentFile(record_text(user, row, kind=kind).encode(), name=f"{slug}-{user.username}.md"),
        title=f"{kind}: {user.get_full_name() or user.username}",
        visibility=Document.Visibility.GROUPS,
        groups=[hr],
        readers=[user],
        keep_sharing=False,
    )
