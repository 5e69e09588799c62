"""One tuning run: gather pairs, split, score the base model, train, score the tuned one, save.

The held-out questions are scored against the whole knowledge base (up to `eval_corpus`
passages), as retrieval would search it, not against their own passages alone.
"""

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from django.utils import timezone

from knowledge import embedding
from knowledge.models import Chunk
from knowledge.tuning import pairs as pairing
from knowledge.tuning.scoring import score
from knowledge.tuning.training import TrainingOptions, default_epochs, save, train


class TuningError(Exception):
    """Nothing was trained; the message says why."""


@dataclass
class Sources:
    pair_files: list[Path] = field(default_factory=list)
    feedback: list[tuple[str, str, str]] = field(default_factory=list)  # chat.conversations.helpful_citations()
    headings: str = "auto"  # heading-path pairs: "always", "never", or "auto": only without real pairs
    write_question: Callable[[str], str] | None = None


@dataclass(frozen=True)
class Plan:
    train: list[pairing.Pair]
    heldout: list[pairing.Pair]
    corpus: list[str]
    found: dict[str, int]  # pairs per source, after de-duplication


def plan(sources: Sources, *, holdout: float, seed: int, eval_corpus: int) -> Plan:
    chunks = list(Chunk.objects.order_by("pk").values_list("heading_path", "text"))
    index = pairing.PassageIndex(chunks)
    found: list[pairing.Pair] = []
    for path in sources.pair_files:
        found += pairing.from_file(path, index)
    found += pairing.from_feedback(sources.feedback)
    headings = sources.headings == "always" or (sources.headings == "auto" and not found)
    if headings or sources.write_question is not None:
        found += pairing.synthetic(chunks, headings=headings, write_question=sources.write_question)
    found = pairing.deduplicated(found)
    train_pairs, heldout = pairing.split(found, holdout=holdout, seed=seed)
    if not train_pairs:
        raise TuningError("There are no question–passage pairs to train on: ingest documents or give --pairs.")
    corpus = index.passages
    if len(corpus) > eval_corpus:
        corpus = random.Random(seed).sample(corpus, eval_corpus)
    return Plan(train_pairs, heldout, corpus, pairing.describe(found))


def finetune(work: Plan, *, base: str, options: TrainingOptions, name: str = "", progress: bool = True) -> dict:
    """Train and save a model; returns its manifest (what `register` stores)."""
    name = name or f"minilm-tuned-{timezone.now():%Y%m%d-%H%M%S}"
    if not embedding.TUNED_NAME.match(name):
        raise TuningError(f"“{name}” is not a model name (lower-case letters, digits, '.', '_' and '-').")
    if embedding.model_path(name).exists():
        raise TuningError(f"A model named {name} exists already.")
    options = replace(options, epochs=options.epochs or default_epochs(len(work.train)))
    before = score(lambda texts: embedding.encode(texts, model=base, batch_size=32), work.heldout, work.corpus)
    started = time.perf_counter()
    model = train(work.train, base=base, options=options, progress=progress)
    training_s = round(time.perf_counter() - started, 1)
    after = score(
        lambda texts: model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False),
        work.heldout,
        work.corpus,
    )
    manifest = {
        "name": name,
        "base_model": base,
        "created_at": timezone.now().isoformat(timespec="seconds"),
        "data": {
            "found": work.found,
            "train_pairs": len(work.train),
            "heldout_pairs": len(work.heldout),
            "corpus_passages": len(work.corpus),
        },
        "parameters": asdict(options),
        "training_s": training_s,
        "metrics": {"heldout_queries": len({p.question for p in work.heldout}), "base": before, "tuned": after},
        "heldout_questions": sorted({p.question for p in work.heldout}),  # `evaluate_retrieval --heldout`
    }
    save(model, name=name, manifest=manifest)
    return manifest
