"""Ingestion throughput end to end (parse + chunk + embed + store) beside raw `encode` of the same chunks.

Usage: .venv/bin/python bench/ingest.py [FOLDER] [--repeat 16]
Starts a throw-away embedded PostgreSQL, uploads every file of FOLDER (default: the demo
handbook; the upload is not timed), ingests them in this process as `ingest_folder` does
(`documents_ingest`), then encodes the very same chunk texts with the same model.
One untimed round warms both up, as in a worker that has run before; each timed ingestion
starts with no token counts remembered, as a fresh worker would. Each round times one
ingestion and one encode back to back, alternating which goes first: on this shared
machine the position alone moved a run by about 12%, and a rest before each run favoured
the ingestion (its parsing warms the CPU up before it encodes). The ratio is the median of
the rounds' ratios, since the machine's speed drifts more between rounds than within one.
The last line is `end_to_end_over_encode=<ratio> chunks_per_s=<n>`.
"""

import argparse
import statistics
import time
from pathlib import Path

from scratch import ROOT, scratch_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT / "demo" / "handbook")
    parser.add_argument("--repeat", type=int, default=16, help="timed rounds; even, so each order runs as often")
    args = parser.parse_args()

    with scratch_django():
        run(args.folder, args.repeat)


def run(folder: Path, repeat: int) -> None:
    from django.conf import settings
    from django.core.files import File

    from knowledge import embedding
    from knowledge.documents import document_create
    from knowledge.folders import folder_files
    from knowledge.ingestion import documents_ingest
    from knowledge.models import Chunk, Document

    def ingest() -> float:
        Document.objects.all().delete()
        embedding._piece_tokens.clear()
        ids = []
        for path in folder_files(folder):
            with path.open("rb") as handle:
                ids.append(document_create(file=File(handle, name=path.name), schedule=False).pk)
        started = time.perf_counter()
        documents_ingest(document_ids=ids)
        return time.perf_counter() - started

    def encode() -> float:
        started = time.perf_counter()
        embedding.encode(texts, batch_size=settings.EMBEDDING_BATCH_SIZE)
        return time.perf_counter() - started

    ingest()
    texts = [f"{h}\n{t}" if h else t for h, t in Chunk.objects.values_list("heading_path", "text")]
    encode()
    end_to_end, raw = [], []
    for round_ in range(repeat):  # which goes first alternates, so neither always follows the other
        if round_ % 2:
            raw.append(encode())
            end_to_end.append(ingest())
        else:
            end_to_end.append(ingest())
            raw.append(encode())
    chunks = Chunk.objects.count()
    assert chunks == len(texts)
    ratios = [r / e for r, e in zip(raw, end_to_end, strict=True)]
    e2e_rate = chunks / statistics.median(end_to_end)
    failed = Document.objects.filter(status=Document.Status.FAILED).count()
    print(f"files={Document.objects.count()} failed={failed} chunks={chunks} rounds={repeat} (+1 warm-up)")
    print(f"end_to_end_s={[round(s, 2) for s in end_to_end]} encode_s={[round(s, 2) for s in raw]}")
    of_medians = statistics.median(raw) / statistics.median(end_to_end)
    print(f"ratio_per_round={[round(r, 3) for r in ratios]} ratio_of_medians={of_medians:.3f}")
    print(f"end_to_end_chunks_per_s={e2e_rate:.1f} encode_chunks_per_s={chunks / statistics.median(raw):.1f}")
    print(f"end_to_end_over_encode={statistics.median(ratios):.3f} chunks_per_s={e2e_rate:.1f}")


if __name__ == "__main__":
    main()
