"""Hybrid retrieval scoped by `access.readable_documents` inside the same SQL statements.

Dense (pgvector HNSW, cosine) and lexical (full-text, IDF-weighted) candidates are fused by
reciprocal rank fusion, overlapping chunks of a section are de-duplicated, and MMR or a
cross-encoder can reorder the result. Every stage is a setting, so `evaluate_retrieval`
can compare them. Every query filters by the documents the user may read, so top-k is
top-k of what they may read.
"""

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from pgvector.django import CosineDistance

from knowledge import embedding
from knowledge.access import readable_documents
from knowledge.retrieval import dense, fusion, lexical, reranking
from knowledge.retrieval.scope import Scope, scope_of


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    document_id: int
    document_title: str
    heading_path: str
    page: int | None
    text: str
    score: float
    similarity: float = 0.0
    stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchOptions:
    dense: bool = True
    lexical: bool = True
    rrf_k: int = 60
    candidates: int = 50
    dedupe: bool = True
    mmr_weight: float = 0.0  # 0 turns MMR off
    rerank: bool = False
    exact: bool | None = None  # None: exact scan when the user may read few chunks

    @classmethod
    def from_settings(cls) -> "SearchOptions":
        return cls(
            dense=settings.RETRIEVAL_DENSE,
            lexical=settings.RETRIEVAL_LEXICAL,
            rrf_k=settings.RETRIEVAL_RRF_K,
            candidates=settings.RETRIEVAL_CANDIDATES,
            dedupe=settings.RETRIEVAL_DEDUPE,
            mmr_weight=settings.RETRIEVAL_MMR_WEIGHT,
            rerank=bool(settings.RERANKER_MODEL_PATH),
        )


def search(user, query: str, *, k: int, options: SearchOptions | None = None) -> list[Passage]:
    options = options or SearchOptions.from_settings()
    if not query.strip() or k <= 0:
        return []
    scope = scope_of(readable_documents(user))
    if not scope.document_ids:
        return []
    vector = embedding.encode_together([query])[0]
    return search_prepared(scope, query, vector, k=k, options=options)


def search_prepared(scope: Scope, query: str, vector: np.ndarray, *, k: int, options: SearchOptions) -> list[Passage]:
    """The part after the query embedding (the benchmark times this, with `scope_of`)."""
    pool = max(options.candidates, k)
    ranked: dict[str, list[int]] = {}
    if options.dense:
        ranked["dense"] = dense.ranked_chunk_ids(scope, vector, pool, exact=options.exact)
    if options.lexical:
        ranked["lexical"] = lexical.ranked_chunk_ids(scope, query, pool)
    candidates = fusion.reciprocal_rank_fusion(ranked, k=options.rrf_k)
    if not candidates:
        return []
    rows = _rows([c.chunk_id for c in candidates], scope, vector, with_vectors=options.mmr_weight > 0)
    by_id = {row["id"]: row for row in rows}
    ordered = [(by_id[c.chunk_id], c) for c in candidates if c.chunk_id in by_id]
    if options.dedupe:
        kept = {id(row) for row in fusion.drop_overlapping([row for row, _ in ordered])}
        ordered = [(row, c) for row, c in ordered if id(row) in kept]
    if options.mmr_weight > 0:
        vectors = np.array([row["embedding"] for row, _ in ordered])
        picks = fusion.maximal_marginal_relevance(
            [1 - row["distance"] for row, _ in ordered], vectors, k=k, weight=options.mmr_weight
        )
        ordered = [ordered[i] for i in picks]
    passages = [_passage(row, c) for row, c in ordered]
    if options.rerank:
        passages = reranking.rerank(query, passages[: max(k * 3, 20)])
    return passages[:k]


def _rows(chunk_ids: list[int], scope: Scope, vector: np.ndarray, *, with_vectors: bool) -> list[dict]:
    fields = ["id", "document_id", "document__title", "heading_path", "page", "text", "char_start", "char_end"]
    rows = (
        scope.chunks()
        .filter(pk__in=chunk_ids)
        .annotate(distance=CosineDistance("embedding", vector))
        .values(*fields, "distance", *(["embedding"] if with_vectors else []))
    )
    return list(rows)


def _passage(row: dict, candidate: fusion.Candidate) -> Passage:
    return Passage(
        chunk_id=row["id"],
        document_id=row["document_id"],
        document_title=row["document__title"],
        heading_path=row["heading_path"],
        page=row["page"],
        text=row["text"],
        score=candidate.score,
        similarity=1.0 - float(row["distance"]),
        stages=tuple(candidate.stages),
    )


__all__ = ["Passage", "SearchOptions", "search", "search_prepared"]
