"""Hybrid retrieval scoped by `access.readable_documents` inside the same SQL statements.

Dense (pgvector HNSW, cosine) and lexical (BM25) candidates are fused by a calibrated convex
combination of their scores, overlapping chunks of a section are de-duplicated, and MMR or a
cross-encoder can reorder the result. Every stage is a setting, so `evaluate_retrieval`
can compare them. Every query filters by the documents the user may read, so top-k is
top-k of what they may read, and by the versions in force in the period the question asks
about (today unless it names another), so a superseded policy answers only questions
about its own time.
"""

import dataclasses
import re
import time
from dataclasses import dataclass
from datetime import date

import numpy as np
from django.conf import settings
from django.utils import timezone
from pgvector.django import CosineDistance

from knowledge import conflicts, embedding, versions
from knowledge.access import own_records, readable_documents, without_others_records
from knowledge.dating import question_period
from knowledge.embedding_models import question_model, with_current_model
from knowledge.models import Chunk
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
    version: str = ""  # how the document's version stands today ("Superseded on …"); "" when undated
    version_state: str = ""
    version_clause: str = ""  # the same inside a sentence ("superseded on …")
    in_conflict: bool = False  # its document has an open conflict (`with_disagreements` looks closer)


@dataclass(frozen=True)
class SearchOptions:
    dense: bool = True
    lexical: bool = True
    dense_weight: float = 0.85  # fusion: the dense score's share (calibrated: RETRIEVAL_DENSE_WEIGHT)
    candidates: int = 50
    dedupe: bool = True
    mmr_weight: float = 0.0  # 0 turns MMR off
    rerank: bool = False
    exact: bool | None = None  # None: exact scan when the user may read few chunks
    versions: bool = True  # False: every version whatever its dates (the baseline `evaluate_answers` compares)

    @classmethod
    def from_settings(cls) -> "SearchOptions":
        return cls(
            dense=settings.RETRIEVAL_DENSE,
            lexical=settings.RETRIEVAL_LEXICAL,
            dense_weight=settings.RETRIEVAL_DENSE_WEIGHT,
            candidates=settings.RETRIEVAL_CANDIDATES,
            dedupe=settings.RETRIEVAL_DEDUPE,
            mmr_weight=settings.RETRIEVAL_MMR_WEIGHT,
            rerank=bool(settings.RERANKER_MODEL_PATH),
        )


def search(
    user, query: str, *, k: int, options: SearchOptions | None = None, today: date | None = None
) -> list[Passage]:
    options = options or SearchOptions.from_settings()
    if not query.strip() or k <= 0:
        return []
    scope = question_scope(user, query, today=today or timezone.localdate(), options=options)
    return search_in(scope, query, k=k, options=options)


def search_in(scope: Scope, query: str, *, k: int, options: SearchOptions) -> list[Passage]:
    """`search` within a scope the caller keeps (an answer reuses it for `with_disagreements`).

    The question is embedded with the active model; if a switch lands between that and the
    search, it is embedded again with the new one.
    """
    if not scope.document_ids:
        return []

    def with_model(model: str) -> list[Passage]:
        vector = embedding.question_vector(query, model=model)
        return with_standing(search_prepared(scope, query, vector, k=k, options=options, model=model), scope)

    return with_current_model(with_model, question_model())


def question_scope(user, query: str, *, today: date, options: SearchOptions, about_oneself: bool = False) -> Scope:
    """What the user may read, narrowed to the versions in force when the question is about.

    A question about oneself leaves out other people's personal records, which HR staff may read.
    """
    readable = readable_documents(user)
    if about_oneself:
        readable = without_others_records(readable, user)
    if options.versions:
        readable = versions.in_force(readable, question_period(query, today))
    return scope_of(readable, today=today)


def own_records_scope(user, *, today: date) -> Scope:
    """The asker's own personal records, whatever the question's period (a record is dated itself)."""
    return scope_of(own_records(user), today=today)


def with_standing(passages: list[Passage], scope: Scope) -> list[Passage]:
    """Each passage with how its version stands and whether its document has conflicts, read with the scope."""
    standing = scope.standing({p.document_id for p in passages}) if passages else {}

    def placed(passage: Passage) -> Passage:
        note, in_conflict = standing.get(passage.document_id, (versions.UNDATED, False))
        return dataclasses.replace(
            passage, version=note.label, version_clause=note.clause, version_state=note.state, in_conflict=in_conflict
        )

    return [placed(p) for p in passages]


def with_disagreements(scope: Scope, passages: list[Passage]) -> tuple[list[Passage], list[conflicts.Disagreement]]:
    """`passages` with, right after each, the passages that contradict it, and the disagreements.

    Only open conflicts between two documents of `scope` (readable, in force for the question)
    count; when no passage's document has one (the scope read that), it costs nothing.
    """
    if not any(p.in_conflict for p in passages):
        return passages, []
    ids = [p.chunk_id for p in passages]
    found = conflicts.disagreements(ids, scope.document_ids)
    missing = {d.other_chunk_id for d in found} | {d.chunk_id for d in found}
    extra = {p.chunk_id: p for p in with_standing(_passages_by_id(scope, missing - set(ids)), scope)}
    partners: dict[int, list[int]] = {}
    for d in found:
        partners.setdefault(d.chunk_id, []).append(d.other_chunk_id)
        partners.setdefault(d.other_chunk_id, []).append(d.chunk_id)
    ordered, placed = [], set()
    for passage in passages:
        ordered.append(passage)
        placed.add(passage.chunk_id)
        for partner in partners.get(passage.chunk_id, []):
            if partner in extra and partner not in placed:
                ordered.append(extra[partner])
                placed.add(partner)
    return ordered, [d for d in found if d.chunk_id in placed and d.other_chunk_id in placed]


# An acronym (TOIL, KIT, P45): embeddings blur them, so a passage sharing one is relevant however far it is.
ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,7}\b")


@dataclass(frozen=True)
class AnswerPassages:
    passages: list[Passage]  # the asker's own records first, then the rest
    disagreements: list[conflicts.Disagreement]
    records: int = 0  # how many of the first passages are the asker's own records


def passages_for_answer(
    user, question: str, *, today: date, options: SearchOptions, about_oneself: bool = False
) -> AnswerPassages:
    """What an answer may use, in one call: the relevant passages the asker may read now (their own
    record first for a question about oneself), with the passages that contradict them and the
    disagreements between them."""
    records = []
    if about_oneself:
        records = search_in(own_records_scope(user, today=today), question, k=1, options=options)
    scope = question_scope(user, question, today=today, options=options, about_oneself=about_oneself)
    passages = search_in(scope, question, k=settings.RETRIEVAL_TOP_K, options=options)
    mine = {r.chunk_id for r in records}
    relevant = [p for p in passages if relevant_enough(p, question) and p.chunk_id not in mine]
    relevant += _naming_an_acronym(scope, question, missing_from=relevant + records)
    relevant, disagreements = with_disagreements(scope, relevant)
    return AnswerPassages(records + relevant, disagreements, len(records))


def relevant_enough(passage: Passage, question: str) -> bool:
    """Semantically close (RETRIEVAL_MIN_SCORE), or found by full-text search sharing an acronym with the
    question. Any shared word is not enough: "office" or "company" match a handbook everywhere."""
    if passage.similarity >= settings.RETRIEVAL_MIN_SCORE:
        return True
    acronyms = set(ACRONYM.findall(question))
    return "lexical" in passage.stages and _names(passage.text, acronyms)


def _naming_an_acronym(scope: Scope, question: str, *, missing_from: list[Passage]) -> list[Passage]:
    """The best BM25 passage that names an acronym of the question (TOIL, KIT), when none of the
    passages found does. Its similarity is noise (for "What is TOIL?" every passage is 0.07 to
    0.11 from the question), so the fused ranking may leave it out; for an answer it is the one
    passage that says what the acronym means."""
    acronyms = set(ACRONYM.findall(question))
    if not acronyms or any(_names(p.text, acronyms) for p in missing_from):
        return []
    terms = lexical.query_terms(" ".join(acronyms))
    for chunk_id, _ in lexical.ranked(scope, terms, 5):
        found = with_standing(_passages_by_id(scope, {chunk_id}), scope)
        if found and _names(found[0].text, acronyms):
            return [dataclasses.replace(found[0], stages=("lexical",))]
    return []


def _names(text: str, acronyms: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(a)}\b", text) for a in acronyms)


def _passages_by_id(scope: Scope, chunk_ids: set[int]) -> list[Passage]:
    rows = (
        scope.chunks()
        .filter(pk__in=chunk_ids)
        .values("id", "document_id", "document__title", "heading_path", "page", "text")
    )
    return [_passage({**row, "distance": 1.0}, fusion.Candidate(row["id"], 0.0, ["conflict"])) for row in rows]


def search_prepared(
    scope: Scope, query: str, vector: np.ndarray, *, k: int, options: SearchOptions, model: str | None = None
) -> list[Passage]:
    """The part after the query embedding (the benchmark times this, with `scope_of`); `model` made `vector`."""
    pool = candidate_pool(scope, query, vector, n=max(options.candidates, k), options=options, model=model)
    return ranked_passages(pool, query, k=k, options=options)


@dataclass
class Pool:
    """Every stage's candidates with both scores each: what fusion ranks (calibration ranks it many times)."""

    found: dict[str, list[int]]  # stage -> chunk ids, best first
    rows: dict[int, dict]
    bm25: dict[int, float]
    timings_ms: dict[str, float] = dataclasses.field(default_factory=dict)


def candidate_pool(
    scope: Scope, query: str, vector: np.ndarray, *, n: int, options: SearchOptions, model: str | None = None
) -> Pool:
    timings: dict[str, float] = {}

    def timed(stage: str, started: float) -> None:
        timings[stage] = (time.perf_counter() - started) * 1000

    found: dict[str, list[int]] = {}
    bm25_scores: dict[int, float] = {}
    started = time.perf_counter()
    if options.dense:
        found["dense"] = dense.ranked_chunk_ids(scope, vector, n, model=model, exact=options.exact)
        timed("dense", started)
    started = time.perf_counter()
    terms = lexical.query_terms(query) if options.lexical else lexical.NO_TERMS
    if options.lexical:
        hits = lexical.ranked(scope, terms, n)
        found["lexical"] = [chunk_id for chunk_id, _ in hits]
        bm25_scores = dict(hits)
        timed("lexical", started)
    started = time.perf_counter()
    ids = list(dict.fromkeys(chunk_id for ranked in found.values() for chunk_id in ranked))
    rows = {row["id"]: row for row in _rows(ids, scope, vector, with_vectors=options.mmr_weight > 0)} if ids else {}
    bm25_scores |= lexical.scores([i for i in rows if i not in bm25_scores], terms)
    timed("rows", started)
    return Pool(found, rows, bm25_scores, timings)


def ranked_passages(pool: Pool, query: str, *, k: int, options: SearchOptions) -> list[Passage]:
    weight = options.dense_weight if options.dense and options.lexical else float(options.dense)
    similarity = {i: 1.0 - float(row["distance"]) for i, row in pool.rows.items()}
    candidates = fusion.convex_combination(pool.found, similarity, pool.bm25, dense_weight=weight)
    ordered = [(pool.rows[c.chunk_id], c) for c in candidates if c.chunk_id in pool.rows]
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
    """The candidates' rows, by primary key. Each ranking statement filtered by the scope; the scope is
    checked again here, in Python: bound into this statement too, the 5,000 document ids of a large
    scope cost more to plan (3 ms) than fetching the rows."""
    fields = ["id", "document_id", "document__title", "heading_path", "page", "text", "char_start", "char_end"]
    rows = (
        Chunk.objects.filter(pk__in=chunk_ids)
        .annotate(distance=CosineDistance("embedding", vector))
        .values(*fields, "distance", *(["embedding"] if with_vectors else []))
    )
    allowed = scope.allowed_ids
    return [row for row in rows if row["document_id"] in allowed]


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


__all__ = [
    "ACRONYM",
    "AnswerPassages",
    "passages_for_answer",
    "relevant_enough",
    "Passage",
    "SearchOptions",
    "own_records_scope",
    "question_scope",
    "search",
    "search_in",
    "search_prepared",
    "candidate_pool",
    "ranked_passages",
    "Pool",
    "with_disagreements",
]
