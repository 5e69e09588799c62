"""Ingest one document: parse, chunk, embed, then swap its chunks in one short transaction.

Embedding runs outside any transaction, in batches that report progress; the swap is
atomic, so a question asked during re-ingestion sees the old chunks or the new ones,
never a mix or nothing. Running it twice leaves one set of chunks; an unchanged file
(same checksum) does no work.
"""

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from knowledge import embedding
from knowledge.chunking import ChunkedDocument, chunk_blocks
from knowledge.dating import effective_dates
from knowledge.documents import content_checksum
from knowledge.embedding_models import ModelSwitched, active_name, ensure_current
from knowledge.models import Chunk, Conflict, Document
from knowledge.parsing import UnreadableDocument, parse_document

logger = logging.getLogger(__name__)
PROGRESS_BATCH = 64
PIPELINE_GROUP_CHUNKS = 64


@dataclass(frozen=True)
class _Prepared:
    document_id: int
    chunked: ChunkedDocument
    checksum: str
    page_count: int | None


def document_ingest(*, document_id: int, force: bool = False) -> bool:
    """True when the document got new chunks."""
    prepared = _prepare(document_id, force=force)
    if prepared is None:
        return False
    model = active_name()
    _store(prepared, _embed_with_progress(prepared, model), model)
    return True


def documents_ingest(*, document_ids: list[int], on_done: Callable[[int], None] = lambda document_id: None) -> None:
    """Bulk ingestion as a pipeline: one thread parses ahead, this one embeds, another stores.

    Chunks of several documents are embedded together (sorted by length, they waste less on
    padding), and parsing and storing overlap with embedding, the slowest stage.
    """
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-prepare") as preparer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-store") as storer,
    ):
        try:
            model = active_name()
            pending = [(i, preparer.submit(_prepare, i, force=False)) for i in document_ids]
            group: list[_Prepared] = []
            stored = []
            for position, (document_id, future) in enumerate(pending):
                prepared = future.result()
                if prepared is None:
                    on_done(document_id)
                else:
                    group.append(prepared)
                last = position == len(pending) - 1
                if group and (last or sum(len(p.chunked.chunks) for p in group) >= PIPELINE_GROUP_CHUNKS):
                    texts = [spec.embedding_text for p in group for spec in p.chunked.chunks]
                    vectors = embedding.encode(texts, model=model, batch_size=settings.EMBEDDING_BATCH_SIZE)
                    stored.append(storer.submit(_store_group, group, vectors, model, on_done))
                    group = []
            for future in stored:
                future.result()
        finally:
            preparer.submit(connections.close_all).result()
            storer.submit(connections.close_all).result()


def _store_group(group: list[_Prepared], vectors: np.ndarray, model: str, on_done: Callable[[int], None]) -> None:
    offset = 0
    for item in group:
        count = len(item.chunked.chunks)
        _store(item, vectors[offset : offset + count], model)
        offset += count
        on_done(item.document_id)


def _store(prepared: _Prepared, vectors: np.ndarray, model: str) -> None:
    """Embeds again when another model became active since the vectors were made."""
    for _attempt in range(3):
        try:
            _replace_chunks(prepared, vectors, model)
            return
        except ModelSwitched as switched:
            model = switched.active
            texts = [spec.embedding_text for spec in prepared.chunked.chunks]
            vectors = embedding.encode(texts, model=model, batch_size=settings.EMBEDDING_BATCH_SIZE)
    raise RuntimeError("The active embedding model kept changing while a document was stored.")


def _prepare(document_id: int, *, force: bool) -> _Prepared | None:
    """Read, parse and chunk; None when there is nothing to embed (deleted, unchanged or failed)."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return None  # deleted before the worker got to it
    try:
        data = _read(document)
    except UnreadableDocument as exc:
        _fail(document_id, str(exc))
        return None
    checksum = content_checksum(data)
    if not force and checksum == document.checksum and document.status == Document.Status.READY:
        return None
    Document.objects.filter(pk=document_id).update(
        status=Document.Status.PROCESSING, error="", chunks_total=0, chunks_embedded=0
    )
    try:
        parsed = parse_document(document.original_name or document.file.name, data)
        chunked = chunk_document(parsed.blocks)
        if not chunked.chunks:
            raise UnreadableDocument("The file contains no extractable text.")
    except UnreadableDocument as exc:
        _fail(document_id, str(exc))
        return None
    return _Prepared(document_id, chunked, checksum, parsed.page_count)


def chunk_document(blocks) -> ChunkedDocument:
    return chunk_blocks(
        blocks,
        max_tokens=min(settings.CHUNK_MAX_TOKENS, embedding.MAX_SEQUENCE_TOKENS - 2),
        overlap_tokens=settings.CHUNK_OVERLAP_TOKENS,
        count_tokens=embedding.count_tokens,
    )


def _read(document: Document) -> bytes:
    try:
        size = document.file.size
        if size > settings.MAX_UPLOAD_BYTES:
            raise UnreadableDocument(
                f"The file is {filesizeformat(size)}; the limit is {filesizeformat(settings.MAX_UPLOAD_BYTES)}."
            )
        with document.file.open("rb") as handle:
            return handle.read()
    except (OSError, ValueError):
        raise UnreadableDocument("The uploaded file is missing from storage; upload it again.") from None


def _embed_with_progress(prepared: _Prepared, model: str) -> np.ndarray:
    document_id = prepared.document_id
    texts = [spec.embedding_text for spec in prepared.chunked.chunks]
    Document.objects.filter(pk=document_id).update(chunks_total=len(texts))
    batches = []
    for start in range(0, len(texts), PROGRESS_BATCH):
        batches.append(
            embedding.encode(
                texts[start : start + PROGRESS_BATCH], model=model, batch_size=settings.EMBEDDING_BATCH_SIZE
            )
        )
        Document.objects.filter(pk=document_id).update(chunks_embedded=min(start + PROGRESS_BATCH, len(texts)))
    return np.concatenate(batches)


def _replace_chunks(prepared: _Prepared, vectors: np.ndarray, model: str) -> None:
    document_id, chunked = prepared.document_id, prepared.chunked
    detected_from, detected_until = effective_dates(chunked.parsed_text)
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
                embedding_model=model,
            )
            for ordinal, (spec, vector) in enumerate(zip(chunked.chunks, vectors, strict=True))
        )
        ensure_current(model)
        Document.objects.filter(pk=document_id).update(
            status=Document.Status.READY,
            error="",
            checksum=prepared.checksum,
            page_count=prepared.page_count,
            chunks_total=len(chunked.chunks),
            chunks_embedded=len(chunked.chunks),
            ingested_at=timezone.now(),
            detected_effective_from=detected_from,
            detected_effective_until=detected_until,
        )


def _fail(document_id: int, reason: str) -> None:
    """A document that cannot be read has no chunks: nothing stale stays searchable."""
    with transaction.atomic():
        Chunk.objects.filter(document_id=document_id).delete()
        Conflict.objects.filter(Q(document_id=document_id) | Q(other_document_id=document_id)).delete()
        Document.objects.filter(pk=document_id).update(status=Document.Status.FAILED, error=reason, checksum="")


def document_fail_unexpectedly(*, document_id: int, exc: BaseException) -> None:
    logger.exception("Ingesting document %s failed", document_id, exc_info=exc)
    _fail(document_id, f"Processing stopped on an internal error ({type(exc).__name__}); see the worker log.")
