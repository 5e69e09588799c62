"""Re-embed stored chunks with the active model, in batches that a worker can run and retry.

Work is chosen by what a chunk records (`embedding_model`), so an interrupted run is
resumed by running it again: finished batches no longer match.
"""

from django.db import transaction
from django.db.models import QuerySet

from knowledge import embedding
from knowledge.chunking import embedding_text
from knowledge.embedding_models import active_name, ensure_current, with_current_model
from knowledge.models import Chunk


def chunks_to_reembed(*, model: str | None = None, everything: bool = False, after_id: int = 0) -> QuerySet[Chunk]:
    chunks = Chunk.objects.filter(pk__gt=after_id).order_by("pk")
    if everything:
        return chunks
    if model:
        return chunks.filter(embedding_model=model)
    return chunks.exclude(embedding_model=active_name())


def batches(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def chunks_reembed(*, chunk_ids: list[int]) -> int:
    """Embeds outside the transaction, then writes the batch at once; deleted chunks are skipped.

    Embeds again if another model became active meanwhile (the write holds the lock the switch needs).
    """
    chunks = list(Chunk.objects.filter(pk__in=chunk_ids).order_by("pk"))

    def write(model: str) -> int:
        vectors = embedding.encode([embedding_text(c.heading_path, c.text) for c in chunks], model=model)
        for chunk, vector in zip(chunks, vectors, strict=True):
            chunk.embedding = vector
            chunk.embedding_model = model
        with transaction.atomic():
            updated = Chunk.objects.bulk_update(chunks, ["embedding", "embedding_model"]) if chunks else 0
            ensure_current(model)
        return updated

    return with_current_model(write, active_name())
