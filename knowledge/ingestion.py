"""Ingest one document: parse, chunk, embed, then swap its chunks in one short transaction.

Embedding runs outside any transaction; the swap is atomic, so a question asked during
re-ingestion sees the old chunks or the new ones, never a mix. Running it twice leaves
one set of chunks.
"""

import hashlib
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from knowledge import embedding
from knowledge.chunking import ChunkedDocument, chunk_blocks
from knowledge.models import Chunk, Document
from knowledge.parsing import UnreadableDocument, parse_document

logger = logging.getLogger(__name__)


def document_ingest(*, document_id: int) -> None:
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return  # deleted before the worker got to it
    Document.objects.filter(pk=document_id).update(status=Document.Status.PROCESSING, error="")
    try:
        with document.file.open("rb") as handle:
            data = handle.read()
    except OSError:
        _fail(document_id, "The uploaded file is missing from storage; upload it again.")
        return
    checksum = hashlib.sha256(data).hexdigest()
    if checksum == document.checksum and document.status == Document.Status.READY and document.chunks.exists():
        Document.objects.filter(pk=document_id).update(status=Document.Status.READY)
        return
    try:
        parsed = parse_document(document.original_name or document.file.name, data)
        chunked = chunk_blocks(
            parsed.blocks,
            max_tokens=min(settings.CHUNK_MAX_TOKENS, embedding.MAX_SEQUENCE_TOKENS - 2),
            overlap_tokens=settings.CHUNK_OVERLAP_TOKENS,
            count_tokens=embedding.count_tokens,
        )
        if not chunked.chunks:
            raise UnreadableDocument("The file contains no extractable text.")
    except UnreadableDocument as exc:
        _fail(document_id, str(exc))
        return
    vectors = embedding.encode(
        [spec.embedding_text for spec in chunked.chunks], batch_size=settings.EMBEDDING_BATCH_SIZE
    )
    _replace_chunks(document_id, chunked, vectors, checksum=checksum, page_count=parsed.page_count)


def _replace_chunks(document_id: int, chunked: ChunkedDocument, vectors, *, checksum: str, page_count) -> None:
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=document_id).first()
        if document is None:
            return
        document.chunks.all().delete()
        Chunk.objects.bulk_create(
            Chunk(
                document_id=document_id,
                ordinal=ordinal,
                text=spec.text,
                heading_path=spec.heading_path,
                page=spec.page,
                char_start=spec.char_start,
                char_end=spec.char_end,
                token_count=spec.token_count,
                embedding=vector,
                embedding_model=embedding.MODEL_NAME,
            )
            for ordinal, (spec, vector) in enumerate(zip(chunked.chunks, vectors, strict=True))
        )
        Document.objects.filter(pk=document_id).update(
            status=Document.Status.READY,
            error="",
            checksum=checksum,
            page_count=page_count,
            ingested_at=timezone.now(),
        )


def _fail(document_id: int, reason: str) -> None:
    """A document that cannot be read has no chunks: nothing stale stays searchable."""
    with transaction.atomic():
        Chunk.objects.filter(document_id=document_id).delete()
        Document.objects.filter(pk=document_id).update(status=Document.Status.FAILED, error=reason, checksum="")


def document_fail_unexpectedly(*, document_id: int, exc: BaseException) -> None:
    logger.exception("Ingesting document %s failed", document_id, exc_info=exc)
    _fail(document_id, f"Processing stopped on an internal error ({type(exc).__name__}); see the worker log.")
