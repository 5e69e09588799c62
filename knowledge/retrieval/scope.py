"""The documents a search may touch, as one array parameter of each ranking statement.

`access.readable_documents` decides; its ids are bound as `document_id = ANY(%s)` in the
same statement that ranks. Written as a subquery instead, PostgreSQL turns the filter
into a join and sorts every allowed row, never using the HNSW index.
"""

from dataclasses import dataclass

from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from knowledge.models import Chunk, Document


@dataclass(frozen=True)
class Scope:
    document_ids: list[int]
    chunk_count: int

    def chunks(self) -> QuerySet[Chunk]:
        condition = RawSQL("knowledge_chunk.document_id = ANY(%s)", (self.document_ids,), output_field=BooleanField())
        return Chunk.objects.filter(condition)


def scope_of(allowed: QuerySet[Document]) -> Scope:
    rows = list(allowed.values_list("pk", "chunks_total"))
    return Scope(document_ids=[pk for pk, _ in rows], chunk_count=sum(total for _, total in rows))
