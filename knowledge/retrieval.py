"""Dense retrieval scoped by `access.readable_documents` inside the same SQL statement.

The permission filter is part of the ranking query, so top-k is top-k of what the user may
read. pgvector's iterative HNSW scan keeps scanning until k allowed rows are found, so a
restrictive filter does not return fewer rows than exist.
"""

from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from pgvector.django import CosineDistance

from knowledge import embedding
from knowledge.access import readable_documents
from knowledge.models import Chunk


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    document_id: int
    document_title: str
    heading_path: str
    page: int | None
    text: str
    score: float


def search(user, query: str, *, k: int) -> list[Passage]:
    if not query.strip() or k <= 0:
        return []
    if not readable_documents(user).exists():
        return []
    return search_by_vector(user, embedding.encode([query])[0], k=k)


def search_by_vector(user, vector: np.ndarray, *, k: int) -> list[Passage]:
    allowed = readable_documents(user).values("pk")
    rows = (
        Chunk.objects.filter(document__in=allowed)
        .annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")
        .values("id", "document_id", "document__title", "heading_path", "page", "text", "distance")[:k]
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        found = list(rows)
    return [
        Passage(
            chunk_id=row["id"],
            document_id=row["document_id"],
            document_title=row["document__title"],
            heading_path=row["heading_path"],
            page=row["page"],
            text=row["text"],
            score=1.0 - float(row["distance"]),
        )
        for row in found
    ]
