"""Optional cross-encoder reranking, on only when RERANKER_MODEL_PATH names a local model folder.

No cross-encoder ships inside a PyPI package today (we looked), and none is fetched from a
hub at run time, so the stage is off by default.
"""

import functools
from dataclasses import replace

from django.conf import settings


@functools.cache
def _model(path: str):
    from sentence_transformers import CrossEncoder

    return CrossEncoder(path, device="cpu")


def rerank(query: str, passages: list) -> list:
    if not passages:
        return passages
    scores = _model(settings.RERANKER_MODEL_PATH).predict([(query, p.text) for p in passages])
    rescored = [replace(p, score=float(s), stages=(*p.stages, "rerank")) for p, s in zip(passages, scores, strict=True)]
    return sorted(rescored, key=lambda p: -p.score)
