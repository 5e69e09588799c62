"""Combine the stages: a convex combination of normalised scores, de-duplication of overlapping chunks, optional MMR."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Candidate:
    chunk_id: int
    score: float
    stages: list[str]


def convex_combination(
    found: dict[str, Sequence[int]], dense: dict[int, float], lexical: dict[int, float], *, dense_weight: float
) -> list[Candidate]:
    """score = w·cosine similarity + (1 − w)·BM25 / the best BM25 score among the candidates.

    Every candidate has both scores (its cosine similarity and its BM25 score, 0 without a query
    term), whichever stage found it, so a weight of 1 or 0 ranks exactly as that stage alone:
    a calibrated weight can only be as good as the better stage or better, on the set it was
    calibrated on. The similarity is used as it is, not stretched over the candidates: for
    "What is TOIL?" every passage is about as far (0.07 to 0.11), and stretched, that noise
    outweighed the one passage that names TOIL (answers also keep a passage that names an
    acronym of the question: `passages_for_answer`). Reciprocal rank fusion, which this replaces,
    threw the scores away and let a weak stage's ranks pull a strong one down (an HR handbook:
    hybrid 0.834 nDCG@10, dense alone 0.847).
    """
    ids = list(dict.fromkeys(chunk_id for ranked in found.values() for chunk_id in ranked))
    best = max((lexical.get(i, 0.0) for i in ids), default=0.0)
    lexical_share = {i: lexical.get(i, 0.0) / best if best > 0 else 0.0 for i in ids}
    members = {stage: set(ranked) for stage, ranked in found.items()}
    stages = {chunk_id: [stage for stage, ranked in members.items() if chunk_id in ranked] for chunk_id in ids}
    fused = [
        Candidate(i, dense_weight * dense.get(i, 0.0) + (1 - dense_weight) * lexical_share[i], stages[i]) for i in ids
    ]
    return sorted(fused, key=lambda c: (-c.score, c.chunk_id))


def drop_overlapping(rows: list[dict]) -> list[dict]:
    """Overlapping chunks of one section (split with overlap) say the same thing: keep the better one."""
    kept: list[dict] = []
    for row in rows:
        if not any(
            other["document_id"] == row["document_id"]
            and other["heading_path"] == row["heading_path"]
            and other["char_start"] < row["char_end"]
            and row["char_start"] < other["char_end"]
            for other in kept
        ):
            kept.append(row)
    return kept


def maximal_marginal_relevance(relevance: list[float], vectors: np.ndarray, *, k: int, weight: float) -> list[int]:
    """Indexes in picking order: each pick balances relevance against similarity to earlier picks."""
    chosen: list[int] = []
    remaining = list(range(len(relevance)))
    while remaining and len(chosen) < k:

        def value(i: int) -> float:
            redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            return weight * relevance[i] - (1 - weight) * redundancy

        best = max(remaining, key=value)
        chosen.append(best)
        remaining.remove(best)
    return chosen
