"""Fine-tune a copy of an embedding model on question–passage pairs with in-batch negatives.

`MultipleNegativesRankingLoss` treats every other passage of a batch as a wrong answer, so a
batch must not hold the same text twice (the no-duplicates sampler); the trainer is
sentence-transformers' own, on the CPU.
"""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from knowledge import embedding
from knowledge.tuning.pairs import Pair

MANIFEST = "ragsite-manifest.json"


@dataclass(frozen=True)
class TrainingOptions:
    epochs: int = 0  # 0: three passes over a few hundred pairs, one over a thousand or more
    batch_size: int = 16
    learning_rate: float = 3e-5
    warmup_ratio: float = 0.1
    seed: int = 13


def default_epochs(pair_count: int) -> int:
    """Small sets need more passes to move the model; large ones overfit with them (and take hours)."""
    return 1 if pair_count >= 1000 else 3


def train(pairs: list[Pair], *, base: str, options: TrainingOptions, progress: bool = True):
    """A trained SentenceTransformer (a fresh copy: the cached base model that serves is not touched)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers

    model = SentenceTransformer(str(embedding.model_path(base)), device="cpu")
    data = Dataset.from_dict({"anchor": [p.question for p in pairs], "positive": [p.passage for p in pairs]})
    with tempfile.TemporaryDirectory(prefix="ragsite-finetune-") as scratch:
        arguments = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=options.epochs or default_epochs(len(pairs)),
            per_device_train_batch_size=min(options.batch_size, len(pairs)),
            learning_rate=options.learning_rate,
            warmup_steps=options.warmup_ratio,  # a float below 1 is a share of the steps
            seed=options.seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            use_cpu=True,
            save_strategy="no",
            report_to="none",
            logging_strategy="no",
            disable_tqdm=not progress,
            dataloader_pin_memory=False,
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=arguments, train_dataset=data, loss=MultipleNegativesRankingLoss(model)
        )
        trainer.train()
    model.eval()
    return model


def save(model, *, name: str, manifest: dict) -> Path:
    """The model folder and its manifest, written under a temporary name and renamed into place,
    so a folder that exists is a whole model."""
    from django.conf import settings

    root = Path(settings.EMBEDDING_MODELS_DIR)
    root.mkdir(parents=True, exist_ok=True)
    final = embedding.model_path(name)
    if final.exists():
        raise FileExistsError(f"{final} already exists; choose another --name.")
    partial = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    model.save(str(partial))
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    partial.chmod(0o755)
    partial.rename(final)
    return final


def read_manifest(name: str) -> dict:
    path = embedding.model_path(name) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
