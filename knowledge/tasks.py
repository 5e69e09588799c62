import logging
import threading
import time

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from knowledge.conflicts import conflicts_detect
from knowledge.documents import document_schedule_conflict_check, documents_requeue_stuck, documents_requeue_waiting
from knowledge.embedding_models import build_step
from knowledge.ingestion import document_fail_unexpectedly, document_ingest
from knowledge.reembedding import chunks_reembed

logger = logging.getLogger(__name__)

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
        changed = document_ingest(document_id=document_id, force=force)
    except (OperationalError, InterfaceError):
        raise  # the database is away: Celery retries with backoff
    except Exception as exc:  # noqa: BLE001 - a bug must end as a failed document, not a dead queue entry
        document_fail_unexpectedly(document_id=document_id, exc=exc)
        return
    if changed:
        document_schedule_conflict_check(document_ids=[document_id])


@shared_task(**RETRY_ON_DATABASE_OUTAGE)
def detect_conflicts(document_id: int) -> None:
    """Apart from ingestion: the document is searchable before its comparison with the others ends."""
    conflicts_detect(document_id=document_id)


@shared_task(**RETRY_ON_DATABASE_OUTAGE)
def reembed_chunks(chunk_ids: list[int]) -> None:
    chunks_reembed(chunk_ids=chunk_ids)


@shared_task(**RETRY_ON_DATABASE_OUTAGE)
def build_embedding_model(name: str) -> None:
    """One batch per task, then the next is queued: a killed worker loses one batch at most."""
    if build_step(name, batch_size=settings.EMBEDDING_BUILD_BATCH):
        build_embedding_model.delay(name)


@worker_ready.connect
def _requeue_waiting_documents_while_running(**kwargs) -> None:
    """Uploads made while Redis was away are queued when the worker starts and every QUEUE_SWEEP_S; so are
    ingestions a killed worker left processing, or whose task a restarted broker lost."""

    def sweep() -> None:
        while True:
            try:
                if queued := documents_requeue_waiting():
                    logger.info("Queued %d document(s) that waited for the task queue", queued)
                requeued, failed = documents_requeue_stuck(
                    stale_s=settings.INGEST_STALE_S, max_attempts=settings.INGEST_MAX_ATTEMPTS
                )
                if requeued or failed:
                    logger.warning(
                        "Stuck ingestions: %d queued again, %d failed after repeated stops", requeued, failed
                    )
            except Exception:  # noqa: BLE001 - the database may be away too; try again next round
                logger.warning("Could not look for waiting documents", exc_info=True)
            finally:
                close_old_connections()
            time.sleep(settings.QUEUE_SWEEP_S)

    threading.Thread(target=sweep, name="requeue-waiting-documents", daemon=True).start()
