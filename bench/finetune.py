"""How long tuning the embedding model takes on this machine, for a given number of pairs.

Usage: .venv/bin/python bench/finetune.py [FOLDER ...] [--pairs 1000] [--epochs 1]
Ingests the folders (default: the demo handbook) into a throw-away database, pairs every
sentence of six words or more with the chunk it comes from (a stand-in for real questions:
the timing depends on text lengths, not on meaning), and trains one model on the first
--pairs of them with `finetune_embeddings`' own trainer and defaults. The last line is
`pairs=<n> epochs=<e> training_s=<s> pairs_per_s=<r>`.
"""

import argparse
import time
from pathlib import Path

from scratch import ROOT, scratch_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, default=[ROOT / "demo" / "handbook"])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    with scratch_django():
        from knowledge import embedding
        from knowledge.chunking import embedding_text
        from knowledge.folders import folder_ingest
        from knowledge.models import Chunk
        from knowledge.sentences import sentences
        from knowledge.tuning.pairs import Pair, deduplicated
        from knowledge.tuning.training import TrainingOptions, train

        for folder in args.folders:
            folder_ingest(root=folder)
        pairs = deduplicated(
            Pair(sentence, embedding_text(heading, text), "file")
            for heading, text in Chunk.objects.order_by("pk").values_list("heading_path", "text")
            for sentence in sentences(text)
            if len(sentence.split()) >= 6
        )[: args.pairs]
        print(f"{len(pairs)} pairs from {Chunk.objects.count()} chunks")
        started = time.perf_counter()
        train(pairs, base=embedding.MODEL_NAME, options=TrainingOptions(epochs=args.epochs), progress=False)
        seconds = time.perf_counter() - started
    print(
        f"pairs={len(pairs)} epochs={args.epochs} training_s={seconds:.1f} "
        f"pairs_per_s={len(pairs) * args.epochs / seconds:.1f}"
    )


if __name__ == "__main__":
    main()
