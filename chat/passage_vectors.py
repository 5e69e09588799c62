"""The vectors an answer's checks need of its passages, kept once computed, so that no answer
encodes the same passage sentences again.

Finding the answering sentences, the support check and the gate compare the question and the
answer's sentences with each passage's sentences (alone and after their heading) and with the
passage as a whole. Those texts depend on the passage only, and popular passages answer most
questions: the first answer that uses a passage stores its vectors (after the answer, off the
way to the first token); later answers, in any web process, read them in one query.

Each text is stored with a digest of itself, so a passage cut to fit a prompt, or a change in
how sentences are split, only misses (and encodes, as before); never a wrong vector. Rows are
per encoder (model and backend) and go with their chunk (ON DELETE CASCADE).
"""

import hashlib
import logging
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.db import DatabaseError

from chat.extraction import candidate_sentences, in_context
from chat.models import PassageVectors
from knowledge import embedding
from knowledge.retrieval import Passage
from knowledge.sentences import sentence_spans

logger = logging.getLogger(__name__)
_DIGEST = 8


def texts_for(passage: Passage) -> list[str]:
    """What `chat.extraction`, `chat.support` and `chat.gate` encode of a passage, each once."""
    candidates = [c.text for c in candidate_sentences([passage])]
    units = [passage.text[start:end] for start, end in sentence_spans(passage.text)]
    return list(dict.fromkeys([*candidates, *(in_context(passage, t) for t in candidates), *units, passage.text]))


def encoder() -> str:
    """The vectors' maker: the base model (the checks are calibrated on it) on its backend."""
    return f"{embedding.MODEL_NAME}|{settings.EMBEDDING_BACKEND}"


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_DIGEST).digest()


def known(passages: list[Passage]) -> dict[str, np.ndarray]:
    """The stored vectors of these passages' texts; {} when the database cannot say."""
    wanted = {p.chunk_id: texts_for(p) for p in passages}
    try:
        rows = list(
            PassageVectors.objects.filter(chunk_id__in=wanted, encoder=encoder()).values_list(
                "chunk_id", "digests", "vectors"
            )
        )
    except DatabaseError:
        logger.warning("Passage vectors not read; the answer encodes them", exc_info=True)
        return {}
    found: dict[str, np.ndarray] = {}
    for chunk_id, digests, vectors in rows:
        stored = dict(zip(_split(bytes(digests)), _matrix(bytes(vectors)), strict=True))
        for text in wanted[chunk_id]:
            vector = stored.get(_digest(text))
            if vector is not None:
                found[text] = vector
    return found


def remember(passages: list[Passage], encode: Callable[[list[str]], np.ndarray]) -> int:
    """Stores the vectors of passages that have none yet (`encode` remembers what this answer
    computed, so mostly nothing is encoded again); returns how many passages it stored."""
    ids = {p.chunk_id for p in passages}
    try:
        stored = PassageVectors.objects.filter(chunk_id__in=ids, encoder=encoder())
        have = set(stored.values_list("chunk_id", flat=True))
        fresh = {p.chunk_id: p for p in passages if p.chunk_id not in have}
        rows = []
        for chunk_id, passage in fresh.items():
            texts = texts_for(passage)
            vectors = np.asarray(encode(texts), dtype=np.float32)
            rows.append(
                PassageVectors(
                    chunk_id=chunk_id,
                    encoder=encoder(),
                    digests=b"".join(map(_digest, texts)),
                    vectors=vectors.tobytes(),
                )
            )
        PassageVectors.objects.bulk_create(rows, update_conflicts=True, unique_fields=["chunk"],
                                           update_fields=["encoder", "digests", "vectors"])  # fmt: skip
    except DatabaseError:  # e.g. the chunk was replaced meanwhile: the next answer stores it
        logger.info("Passage vectors not stored", exc_info=True)
        return 0
    return len(rows)


def _split(digests: bytes) -> list[bytes]:
    return [digests[i : i + _DIGEST] for i in range(0, len(digests), _DIGEST)]


def _matrix(vectors: bytes) -> np.ndarray:
    return np.frombuffer(vectors, dtype=np.float32).reshape(-1, embedding.DIMENSIONS)
