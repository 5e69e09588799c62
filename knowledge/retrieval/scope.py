"""The documents a search may touch, as one array parameter of each ranking statement.

`access.readable_documents` decides; its ids are bound as `document_id = ANY(%s)` in the
same statement that ranks. Written as a subquery instead, PostgreSQL turns the filter
into a join and sorts every allowed row, never using the HNSW index.
"""

from dataclasses import dataclass, field
from datetime import date

from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from knowledge import conflicts, versions
from knowledge.models import Chunk, Document
from knowledge.versions import VersionNote


@dataclass(frozen=True)
class Scope:
    document_ids: list[int]
    chunk_count: int
    notes: dict[int, VersionNote] = field(default_factory=dict)  # how each version stands today
    conflicted: frozenset[int] = frozenset()  # documents with open conflicts with another in the scope

    def chunks(self) -> QuerySet[Chunk]:
        condition = RawSQL("knowledge_chunk.document_id = ANY(%s)", (self.document_ids,), output_field=BooleanField())
        return Chunk.objects.filter(condition)


def scope_of(allowed: QuerySet[Document], *, today: date | None = None) -> Scope:
    """The same query also reads how each version stands on `today` and which documents have conflicts."""
    today = today or timezone.localdate()
    rows = list(
        versions.with_standing(allowed)
        .annotate(in_conflict=conflicts.open_conflicts_among(allowed))
        .values("pk", "chunks_total", "in_conflict", *versions.STANDING_FIELDS)
    )
    return Scope(
        document_ids=[row["pk"] for row in rows],
        chunk_count=sum(row["chunks_total"] for row in rows),
        notes={row["pk"]: versions.note_of(row, today) for row in rows},
        conflicted=frozenset(row["pk"] for row in rows if row["in_conflict"]),
    )
