"""Ingestion throughput end to end (parse + chunk + embed + store) beside raw `encode` of the same chunks.

Usage: .venv/bin/python bench/ingest.py [FOLDER] [--repeat 3]
Starts a throw-away embedded PostgreSQL, uploads every file of FOLDER (default: the demo
handbook; the upload is not timed), ingests them in this process with the bulk pipeline
(`documents_ingest`), then encodes the very same chunk texts with the same model.
Runs alternate and the medians are compared; the last line is
`end_to_end_over_encode=<ratio> chunks_per_s=<n>`.
"""

import argparse
import statistics
import time
from pathlib import Path

from scratch import ROOT, scratch_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT / "demo" / "handbook")
    parser.add_argument("--repeat", type=int, default=3)
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

    embedding.encode(["warm up the model"])
    end_to_end, raw, uploads = [], [], []
    for _ in range(repeat):
        Document.objects.all().delete()
        started = time.perf_counter()
        ids = []
        for path in folder_files(folder):
            with path.open("rb") as handle:
                ids.append(document_create(file=File(handle, name=path.name), schedule=False).pk)
        uploads.append(time.perf_counter() - started)
        started = time.perf_counter()
        documents_ingest(document_ids=ids)
        end_to_end.append(time.perf_counter() - started)
        texts = [f"{h}\n{t}" if h else t for h, t in Chunk.objects.values_list("heading_path", "text")]
        started = time.perf_counter()
        embedding.encode(texts, batch_size=settings.EMBEDDING_BATCH_SIZE)
        raw.append(time.perf_counter() - started)
    chunks = len(texts)
    e2e_rate = chunks / statistics.median(end_to_end)
    raw_rate = chunks / statistics.median(raw)
    failed = Document.objects.filter(status=Document.Status.FAILED).count()
    print(f"files={len(ids)} failed={failed} chunks={chunks} upload_s={statistics.median(uploads):.2f} (not timed)")
    print(f"end_to_end_s={[round(s, 2) for s in end_to_end]} encode_s={[round(s, 2) for s in raw]}")
    print(f"end_to_end_chunks_per_s={e2e_rate:.1f} encode_chunks_per_s={raw_rate:.1f}")
    print(f"end_to_end_over_encode={e2e_rate / raw_rate:.3f} chunks_per_s={e2e_rate:.1f}")


if __name__ == "__main__":
    main()
