"""The documents a search may touch, as one array parameter of each ranking statement.

`access.readable_documents` decides; its ids are bound as `document_id = ANY(%s)` in the
same statement that ranks. Written as a subquery instead, PostgreSQL turns the filter
into a join and sorts every allowed row, never using the HNSW index.
"""

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import BooleanField, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from knowledge import conflicts, versions
from knowledge.models import Chunk, Document
from knowledge.versions import VersionNote


@dataclass(frozen=True)
class Scope:
    document_ids: list[int]
    chunk_count: int
    allowed: QuerySet[Document] = field(default_factory=Document.objects.none)
    today: date = field(default_factory=timezone.localdate)

    @cached_property
    def allowed_ids(self) -> frozenset[int]:
        return frozenset(self.document_ids)

    def chunks(self) -> QuerySet[Chunk]:
        condition = RawSQL(
            "knowledge_chunk.document_id = ANY(%s::bigint[])", (self.document_ids,), output_field=BooleanField()
        )
        return Chunk.objects.filter(condition)

    def standing(self, document_ids: set[int]) -> dict[int, tuple[VersionNote, bool]]:
        """How each of these documents' versions stands today, and whether it has an open conflict
        with another document of the scope: read for the passages found, not for every document
        the user may read (5,000 documents took 20 ms to read per question), by the ids the scope
        holds (its queryset, compiled again, cost more than the two statements)."""
        ids = set(document_ids) & self.allowed_ids
        rows = versions.with_standing(Document.objects.filter(pk__in=ids)).values("pk", *versions.STANDING_FIELDS)
        disputed = conflicts.in_open_conflict(ids, self.allowed_ids)
        return {row["pk"]: (versions.note_of(row, self.today), row["pk"] in disputed) for row in rows}


def scope_of(allowed: QuerySet[Document], *, today: date | None = None) -> Scope:
    """One aggregate: the ids, bound into each ranking statement, and how many chunks they hold."""
    found = allowed.aggregate(ids=ArrayAgg("pk", default=[]), chunks=Sum("chunks_total", default=0))
    return Scope(found["ids"], found["chunks"], allowed, today or timezone.localdate())
