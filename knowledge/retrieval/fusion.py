"""Combine ranked lists: reciprocal rank fusion, de-duplication of overlapping chunks, optional MMR."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Candidate:
    chunk_id: int
    score: float
    stages: list[str]


def reciprocal_rank_fusion(ranked: dict[str, Sequence[int]], *, k: int) -> list[Candidate]:
    """score = sum over lists of 1 / (k + rank); k damps the weight of the very top ranks."""
    fused: dict[int, Candidate] = {}
    for stage, ids in ranked.items():
        for rank, chunk_id in enumerate(ids, start=1):
            candidate = fused.setdefault(chunk_id, Candidate(chunk_id, 0.0, []))
            candidate.score += 1.0 / (k + rank)
            candidate.stages.append(stage)
    return sorted(fused.values(), key=lambda c: (-c.score, c.chunk_id))


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
