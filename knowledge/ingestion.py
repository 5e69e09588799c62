"""Ingest documents: parse, chunk, embed, then swap their chunks in one short transaction.

Embedding runs outside any transaction (for one document in batches that report progress);
the swap is atomic, so a question asked during re-ingestion sees the old chunks or the new
ones, never a mix or nothing. Running it twice leaves one set of chunks; an unchanged file
(same checksum) does no work.
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import DataError, IntegrityError, InternalError, ProgrammingError, connection, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo

from knowledge import bm25, embedding
from knowledge.chunking import ChunkedDocument, chunk_blocks
from knowledge.dating import effective_dates
from knowledge.documents import content_checksum, document_fail, title_from_filename
from knowledge.embedding_models import active_name, ensure_current, with_current_model
from knowledge.models import Chunk, Document
from knowledge.parsing import UnreadableDocument, front_matter, parse_document

logger = logging.getLogger(__name__)
PROGRESS_BATCH = 64
GROUP_CHUNKS = 256


@dataclass(frozen=True)
class _Prepared:
    document_id: int
    chunked: ChunkedDocument
    checksum: str
    page_count: int | None
    title: str = ""  # the document's own title, for a document whose title came from its file name
    metadata: dict | None = None


def document_ingest(*, document_id: int, force: bool = False) -> bool:
    """True when the document got new chunks."""
    prepared = _prepare(document_id, force=force)
    if prepared is None:
        return False
    model = active_name()
    _store([prepared], _embed_with_progress(prepared, model), model)
    bm25.refresh_if_needed()
    return True


def documents_ingest(*, document_ids: list[int], on_done: Callable[[int], None] = lambda document_id: None) -> None:
    """Many documents in groups of about GROUP_CHUNKS chunks: parse and chunk each document of a
    group, embed all its chunks in one call, store the group in one transaction.

    The stages run one after the other: embedding keeps every core busy, and threads that
    parsed and stored beside it slowed it by more than they saved (demo handbook, all else
    equal: 0.78 of raw encoding throughput with them, 0.88 without). Chunks embedded
    together, sorted by length, waste less on padding. A long document goes alone and reports
    its progress.
    """
    document_ids = list(dict.fromkeys(document_ids))  # a group must not hold a document twice
    model = active_name()
    group: list[_Prepared] = []
    for document_id, document in _documents(document_ids):
        read = None if document is None else _read_if_changed(document, force=False)
        prepared = None if read is None else _parse(document, *read)
        if prepared is None:
            on_done(document_id)
        elif len(prepared.chunked.chunks) >= GROUP_CHUNKS:
            model = _embed_and_store([prepared], model, on_done)
        else:
            group.append(prepared)
            if sum(len(p.chunked.chunks) for p in group) >= GROUP_CHUNKS:
                model = _embed_and_store(group, model, on_done)
                group = []
    if group:
        _embed_and_store(group, model, on_done)
    bm25.refresh_if_needed()


def _embed_and_store(group: list[_Prepared], model: str, on_done: Callable[[int], None]) -> str:
    """The model the vectors were made with (another, if it became active meanwhile)."""
    _mark_processing([prepared.document_id for prepared in group])
    if len(group) == 1:
        vectors = _embed_with_progress(group[0], model)
    else:
        vectors = embedding.encode(_texts(group), model=model, batch_size=settings.EMBEDDING_BATCH_SIZE)
    try:
        model = _store(group, vectors, model)
    except _REFUSED:  # one document the database will not take must not sink the others
        for prepared, own in _split(group, vectors):
            try:
                model = _store([prepared], own, model)
            except _REFUSED as exc:
                document_fail_unexpectedly(document_id=prepared.document_id, exc=exc)
    for prepared in group:
        on_done(prepared.document_id)
    return model


# The database refusing rows (PL/pgSQL raises a ProgrammingError); a lost connection, an
# OperationalError, stops the run instead: every document would fail the same way.
_REFUSED = (DataError, IntegrityError, InternalError, ProgrammingError)


def _texts(group: list[_Prepared]) -> list[str]:
    return [spec.embedding_text for prepared in group for spec in prepared.chunked.chunks]


def _store(group: list[_Prepared], vectors: np.ndarray, model: str) -> str:
    """Embeds again when another model became active since the vectors were made; the model used."""
    made = {model: vectors}

    def write(current: str) -> str:
        if current not in made:
            made[current] = embedding.encode(_texts(group), model=current, batch_size=settings.EMBEDDING_BATCH_SIZE)
        _replace_chunks(group, made[current], current)
        return current

    return with_current_model(write, model)


def _prepare(document_id: int, *, force: bool) -> _Prepared | None:
    """Read, parse and chunk; None when there is nothing to embed (deleted, unchanged or failed)."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return None  # deleted before the worker got to it
    read = _read_if_changed(document, force=force)
    if read is None:
        return None
    _mark_processing([document_id])
    return _parse(document, *read)


def _documents(document_ids: list[int]) -> Iterator[tuple[int, Document | None]]:
    """Each document, None if deleted; read a hundred at a time, so none is long out of date."""
    for start in range(0, len(document_ids), 100):
        batch = document_ids[start : start + 100]
        documents = Document.objects.in_bulk(batch)
        for document_id in batch:
            yield document_id, documents.get(document_id)


def _read_if_changed(document: Document, *, force: bool) -> tuple[bytes, str] | None:
    """The file and its checksum; None when it is unreadable (the document fails) or unchanged."""
    try:
        data = _read(document)
    except UnreadableDocument as exc:
        document_fail(document_id=document.pk, reason=str(exc))
        return None
    checksum = content_checksum(data)
    if not force and checksum == document.checksum and document.status == Document.Status.READY:
        return None
    return data, checksum


def _mark_processing(document_ids: list[int]) -> None:
    Document.objects.filter(pk__in=document_ids).update(
        status=Document.Status.PROCESSING, error="", chunks_total=0, chunks_embedded=0, heartbeat_at=timezone.now()
    )


def _parse(document: Document, data: bytes, checksum: str) -> _Prepared | None:
    try:
        parsed = parse_document(document.original_name or document.file.name, data)
        chunked = chunk_document(parsed.blocks)
        if not chunked.chunks:
            raise UnreadableDocument("The file contains no extractable text.")
    except UnreadableDocument as exc:
        document_fail(document_id=document.pk, reason=str(exc))
        return None
    derived = {title_from_filename(document.original_name), front_matter.title_of(document.metadata or {})}
    own_title = parsed.title if document.title in derived else ""
    return _Prepared(document.pk, chunked, checksum, parsed.page_count, own_title, parsed.metadata)


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
        Document.objects.filter(pk=document_id).update(
            chunks_embedded=min(start + PROGRESS_BATCH, len(texts)), heartbeat_at=timezone.now()
        )
    return np.concatenate(batches)


def _replace_chunks(group: list[_Prepared], vectors: np.ndarray, model: str) -> None:
    """One transaction for the group: a question sees each document's old chunks or its new ones."""
    ids = [prepared.document_id for prepared in group]
    dates = {prepared.document_id: _effective_dates(prepared) for prepared in group}
    with transaction.atomic():
        present = set(Document.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
        Chunk.objects.filter(document_id__in=present).delete()
        stored = [(prepared, own) for prepared, own in _split(group, vectors) if prepared.document_id in present]
        _insert_chunks(stored, model)
        ensure_current(model)
        now = timezone.now()
        for prepared, _ in stored:  # one UPDATE each: bulk_update's CASE takes longer to build
            detected_from, detected_until = dates[prepared.document_id]
            Document.objects.filter(pk=prepared.document_id).update(
                **({"title": prepared.title} if prepared.title else {}),
                metadata=prepared.metadata or {},
                status=Document.Status.READY,
                error="",
                ingest_attempts=0,
                checksum=prepared.checksum,
                page_count=prepared.page_count,
                chunks_total=len(prepared.chunked.chunks),
                chunks_embedded=len(prepared.chunked.chunks),
                ingested_at=now,
                detected_effective_from=detected_from,
                detected_effective_until=detected_until,
            )


def _effective_dates(prepared: _Prepared):
    """Front matter that names the effective date says it more surely than a sentence of the text."""
    stated_from, stated_until = front_matter.effective_dates(prepared.metadata or {})
    from_text, until_text = effective_dates(prepared.chunked.parsed_text)
    return stated_from or from_text, stated_until or until_text


_CHUNK_COLUMNS = {
    "document_id": "bigint",
    "ordinal": "integer",
    "text": "text",
    "heading_path": "varchar",
    "page": "integer",
    "char_start": "integer",
    "char_end": "integer",
    "token_count": "integer",
    "embedding": "vector",
    "embedding_model": "varchar",
    "embedding_next_model": "varchar",
}


def _split(group: list[_Prepared], vectors: np.ndarray) -> Iterator[tuple[_Prepared, np.ndarray]]:
    offset = 0
    for prepared in group:
        count = len(prepared.chunked.chunks)
        yield prepared, vectors[offset : offset + count]
        offset += count


def _insert_chunks(stored: list[tuple[_Prepared, np.ndarray]], model: str) -> None:
    """A binary COPY: the ORM's INSERT writes each vector as text, which costs more than the
    database's work of indexing it."""
    with connection.cursor() as wrapper, connection.wrap_database_errors:  # Django's errors, for retries
        cursor = wrapper.cursor  # psycopg's own; vectors adapted on this cursor only
        register_vector_info(cursor, TypeInfo.fetch(cursor.connection, "vector"))
        columns = ", ".join(_CHUNK_COLUMNS)
        with cursor.copy(f"COPY {Chunk._meta.db_table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(_CHUNK_COLUMNS.values()))
            for prepared, vectors in stored:
                for ordinal, (spec, vector) in enumerate(zip(prepared.chunked.chunks, vectors, strict=True)):
                    copy.write_row(
                        (prepared.document_id, ordinal, spec.text, spec.heading_path, spec.page, spec.char_start,
                         spec.char_end, spec.token_count, vector, model, "")
                    )  # fmt: skip


def document_fail_unexpectedly(*, document_id: int, exc: BaseException) -> None:
    logger.exception("Ingesting document %s failed", document_id, exc_info=exc)
    document_fail(
        document_id=document_id,
        reason="Processing stopped on an unexpected error; try the action “Re-ingest selected documents”, "
        "and if it fails again, the worker log says why.",
    )
