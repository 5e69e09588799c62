"""Dense candidates: cosine distance over chunk embeddings, restricted to allowed documents in the same SQL.

A user who may read few chunks gets an exact scan of just those (the HNSW index cannot
serve `distance + 0`, so PostgreSQL takes the allowed rows by document and sorts them).
Otherwise the HNSW index is scanned iteratively (pgvector 0.8) until enough allowed rows
are found, so a restrictive filter does not return fewer than asked.

Only vectors of the model that embedded the query are compared with it.
"""

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import ExpressionWrapper, FloatField, Value
from pgvector.django import CosineDistance

from knowledge.embedding_models import ModelSwitched, question_model
from knowledge.retrieval.scope import Scope


def ranked_chunk_ids(
    scope: Scope, vector: np.ndarray, n: int, *, model: str | None = None, exact: bool | None = None
) -> list[int]:
    """`model` made `vector`; ModelSwitched when another became active since (nothing matches it now)."""
    if not scope.document_ids:
        return []
    ids = _ranked(scope, vector, n, model=model, exact=exact)
    if not ids and model and scope.chunk_count and (active := question_model(refresh=True)) != model:
        raise ModelSwitched(active)
    return ids


def _ranked(scope: Scope, vector: np.ndarray, n: int, *, model: str | None, exact: bool | None) -> list[int]:
    chunks = scope.chunks().filter(embedding_model=model) if model else scope.chunks()
    if exact is None:
        exact = scope.chunk_count <= settings.RETRIEVAL_EXACT_MAX_CHUNKS
    if exact:
        distance = ExpressionWrapper(CosineDistance("embedding", vector) + Value(0.0), output_field=FloatField())
        return list(chunks.annotate(d=distance).order_by("d").values_list("id", flat=True)[:n])
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(max(settings.HNSW_EF_SEARCH, n))])
            cursor.execute("SELECT set_config('hnsw.max_scan_tuples', %s, true)", [str(settings.HNSW_MAX_SCAN_TUPLES)])
        ranked = chunks.annotate(d=CosineDistance("embedding", vector)).order_by("d")
        return list(ranked.values_list("id", flat=True)[:n])
