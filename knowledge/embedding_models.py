"""Which embedding model searches the knowledge base, and switching to another without downtime.

Activating a model marks it `building`; worker tasks fill `Chunk.embedding_next` with its
vectors in batches while questions keep searching `Chunk.embedding`. When no chunk lacks
them, one transaction swaps the two columns and the two models' states, so a question sees
the old model's vectors or the new one's, never a mix. The previous model's vectors stay in
`embedding_next`: rolling back re-embeds only chunks added since.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from knowledge import embedding
from knowledge.chunking import embedding_text
from knowledge.models import Chunk, EmbeddingModel

# The switch embeds chunks added since the last batch while it holds the chunk table; only a few.
SWITCH_MAX_LATE_CHUNKS = 64
QUESTION_MODEL_TTL_S = 2.0
_question_model: tuple[float, str] | None = None


class ActivationRefused(Exception):
    """The message says why, in words for an administrator."""


T = TypeVar("T")


class ModelSwitched(Exception):
    """Vectors were made with a model that is no longer the active one; embed them again."""

    def __init__(self, active: str) -> None:
        super().__init__(f"The active embedding model is now {active}.")
        self.active = active


def with_current_model(work: Callable[[str], T], model: str, *, attempts: int = 3) -> T:
    """`work(model)`; when another model became active meanwhile (`ModelSwitched`), `work` again with that one.

    The one retry rule for everything that embeds and writes or searches: ingestion, re-embedding, questions.
    """
    for _attempt in range(attempts):
        try:
            return work(model)
        except ModelSwitched as switched:
            model = switched.active
    raise RuntimeError("The active embedding model kept changing; try again.")


def active_name() -> str:
    """The model whose vectors are in `Chunk.embedding`: questions must be embedded with it."""
    name = EmbeddingModel.objects.filter(state=EmbeddingModel.State.ACTIVE).values_list("name", flat=True).first()
    return name or embedding.MODEL_NAME


def question_model(*, refresh: bool = False) -> str:
    """`active_name`, asked of the database at most every QUESTION_MODEL_TTL_S: under load every
    question asking cost a round trip before its first token. A question that catches a switch
    finds no vectors of its model and asks again (`dense.ranked_chunk_ids`), so it is never wrong."""
    global _question_model
    now = time.monotonic()
    if refresh or _question_model is None or now - _question_model[0] > QUESTION_MODEL_TTL_S:
        _question_model = (now, active_name())
    return _question_model[1]


def ensure_current(model: str) -> None:
    """Raise ModelSwitched unless `model` is active; inside a transaction that wrote chunks, the
    switch cannot start before it commits (it locks the table), so the check holds until then."""
    active = active_name()
    if active != model:
        raise ModelSwitched(active)


def base_row() -> EmbeddingModel:
    row, _ = EmbeddingModel.objects.get_or_create(
        name=embedding.MODEL_NAME, defaults={"state": EmbeddingModel.State.AVAILABLE}
    )
    return row


def register(name: str, *, base_model: str, manifest: dict) -> EmbeddingModel:
    base_row()
    row, _ = EmbeddingModel.objects.update_or_create(
        name=name, defaults={"base_model": base_model, "manifest": manifest}
    )
    return row


def activate_in_empty_knowledge_base(name: str) -> None:
    """For a knowledge base with no chunks yet (evaluations): nothing to re-embed, so no build."""
    if Chunk.objects.exists():
        raise ActivationRefused("The knowledge base has chunks: activate the model with a build.")
    with transaction.atomic():
        EmbeddingModel.objects.exclude(name=name).update(state=EmbeddingModel.State.AVAILABLE)
        EmbeddingModel.objects.update_or_create(
            name=name, defaults={"state": EmbeddingModel.State.ACTIVE, "activated_at": timezone.now()}
        )


def worse_than_base(row: EmbeddingModel) -> str:
    """Why the held-out metrics say not to use it ("" when they do not)."""
    metrics = row.manifest.get("metrics") or {}
    base, tuned = metrics.get("base") or {}, metrics.get("tuned") or {}
    if row.name == embedding.MODEL_NAME or row.manifest.get("packaged"):
        return ""
    if not base or not tuned or not metrics.get("heldout_queries"):
        return f"{row.name} has no held-out evaluation to show it is not worse than {row.base_model}."
    worse = [m for m in ("ndcg@10", "mrr@10") if tuned.get(m, 0.0) < base.get(m, 0.0)]
    if worse:
        shown = ", ".join(f"{m} {tuned[m]:.3f} < {base[m]:.3f}" for m in worse)
        return f"{row.name} is worse than {row.base_model} on its held-out questions ({shown})."
    return ""


def activation_start(name: str, *, force: bool = False) -> EmbeddingModel:
    """Mark `name` building (a build in progress for another model is abandoned); the caller runs
    `build_step` until it returns False, on the worker or inline."""
    with transaction.atomic():
        row = EmbeddingModel.objects.select_for_update().filter(name=name).first()
        if row is None and name == embedding.MODEL_NAME:
            row = base_row()
        if row is None:
            raise ActivationRefused(f"There is no embedding model named “{name}”.")
        if row.state == EmbeddingModel.State.ACTIVE:
            raise ActivationRefused(f"{name} is already the active model.")
        reason = worse_than_base(row)
        if reason and not force:
            raise ActivationRefused(f"{reason} Use --force (or the admin's forced action) to activate it anyway.")
        embedding.get_model(row.name)  # raises ModelMissing before anything changes
        EmbeddingModel.objects.filter(state=EmbeddingModel.State.BUILDING).exclude(pk=row.pk).update(
            state=EmbeddingModel.State.AVAILABLE
        )
        row.state, row.forced = EmbeddingModel.State.BUILDING, bool(reason)
        row.save(update_fields=["state", "forced"])
    return row


def rollback_target() -> EmbeddingModel:
    active = EmbeddingModel.objects.filter(state=EmbeddingModel.State.ACTIVE).select_related("previous").first()
    if active is None or active.previous is None:
        raise ActivationRefused("No model was active before the current one: there is nothing to roll back to.")
    return active.previous


def missing_ids(name: str, *, limit: int) -> list[int]:
    return list(Chunk.objects.exclude(embedding_next_model=name).order_by("pk").values_list("pk", flat=True)[:limit])


def missing_count(name: str) -> int:
    return Chunk.objects.exclude(embedding_next_model=name).count()


def _fill(chunk_ids: list[int], name: str) -> int:
    chunks = list(Chunk.objects.filter(pk__in=chunk_ids).only("pk", "heading_path", "text"))
    vectors = embedding.encode([embedding_text(c.heading_path, c.text) for c in chunks], model=name)
    for chunk, vector in zip(chunks, vectors, strict=True):
        chunk.embedding_next, chunk.embedding_next_model = vector, name
    Chunk.objects.bulk_update(chunks, ["embedding_next", "embedding_next_model"])  # one transaction
    return len(chunks)


def build_step(name: str, *, batch_size: int) -> bool:
    """Embed one batch of chunks that lack `name`'s vectors, or switch when none do.

    True while there is more to do. Safe to run twice or after a crash: the work left is read
    from the chunks themselves; a model no longer building (cancelled, or switched) stops.
    """
    if not EmbeddingModel.objects.filter(name=name, state=EmbeddingModel.State.BUILDING).exists():
        return False
    ids = missing_ids(name, limit=max(batch_size, SWITCH_MAX_LATE_CHUNKS + 1))
    if len(ids) > SWITCH_MAX_LATE_CHUNKS:
        _fill(ids[:batch_size], name)  # chunks deleted meanwhile are skipped by bulk_update
        return True
    return not _switch(name)


def _switch(name: str) -> bool:
    """Swap the columns if nothing is missing; False when new chunks arrived and another pass is needed."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Blocks writers to chunks (ingestion waits), not readers (questions go on).
            cursor.execute(f"LOCK TABLE {Chunk._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
        row = EmbeddingModel.objects.select_for_update().filter(name=name).first()
        if row is None or row.state != EmbeddingModel.State.BUILDING:
            return True
        late = missing_ids(name, limit=SWITCH_MAX_LATE_CHUNKS + 1)
        if len(late) > SWITCH_MAX_LATE_CHUNKS:
            return False
        _fill(late, name)
        Chunk.objects.update(  # one statement: SET reads every column's old value
            embedding=F("embedding_next"),
            embedding_next=F("embedding"),
            embedding_model=F("embedding_next_model"),
            embedding_next_model=F("embedding_model"),
        )
        current = EmbeddingModel.objects.select_for_update().filter(state=EmbeddingModel.State.ACTIVE).first()
        if current is None:
            current = base_row() if name != embedding.MODEL_NAME else None
        if current is not None:
            EmbeddingModel.objects.filter(pk=current.pk).update(state=EmbeddingModel.State.AVAILABLE)
        row.state, row.previous, row.activated_at = EmbeddingModel.State.ACTIVE, current, timezone.now()
        row.save(update_fields=["state", "previous", "activated_at"])
    return True


def activate(name: str, *, force: bool = False, inline: bool = False, on_batch=lambda: None) -> bool:
    """Start switching to `name`, then re-embed here (`inline`; True: it is active now) or on the
    worker (False: questions use the current model until the worker is done). Every way to
    activate (admin, `embedding_models`, `finetune_embeddings --activate`) goes through here."""
    activation_start(name, force=force)
    if inline:
        build(name, batch_size=settings.EMBEDDING_BUILD_BATCH, on_batch=on_batch)
        return True
    from knowledge.tasks import build_embedding_model  # tasks import this module

    build_embedding_model.delay(name)
    return False


def build(name: str, *, batch_size: int, on_batch=lambda: None) -> None:
    """All of `build_step`, here (the management command's --inline)."""
    while build_step(name, batch_size=batch_size):
        on_batch()


@dataclass(frozen=True)
class ModelStatus:
    row: EmbeddingModel
    chunks_with_vectors: int  # for the active model: all; for one building: how far it got
    chunks_total: int


def statuses() -> list[ModelStatus]:
    """Every model with how many chunks hold its vectors, in one query for the counts."""
    base_row()
    rows = list(EmbeddingModel.objects.all())
    counts = Chunk.objects.aggregate(
        total=Count("pk"),
        **{
            f"m{row.pk}": Count("pk", filter=Q(embedding_model=row.name) | Q(embedding_next_model=row.name))
            for row in rows
        },
    )
    return [ModelStatus(row, counts[f"m{row.pk}"], counts["total"]) for row in rows]
