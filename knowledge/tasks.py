from celery import shared_task
from django.db import InterfaceError, OperationalError

from knowledge.ingestion import document_fail_unexpectedly, document_ingest
from knowledge.reembedding import chunks_reembed

# Only a database outage is worth retrying; a bad file or a bug is not.
RETRY_ON_DATABASE_OUTAGE = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 5,
}


@shared_task(**RETRY_ON_DATABASE_OUTAGE)
def ingest_document(document_id: int, force: bool = False) -> None:
    try:
        document_ingest(document_id=document_id, force=force)
    except (OperationalError, InterfaceError):
        raise  # the database is away: Celery retries with backoff
    except Exception as exc:  # noqa: BLE001 - a bug must end as a failed document, not a dead queue entry
        document_fail_unexpectedly(document_id=document_id, exc=exc)


@shared_task(**RETRY_ON_DATABASE_OUTAGE)
def reembed_chunks(chunk_ids: list[int]) -> None:
    chunks_reembed(chunk_ids=chunk_ids)
