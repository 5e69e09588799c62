"""How far the support check can be trusted, on labelled sentence–passage pairs (`evaluate_support`).

A pair is an answer sentence, the passage it cites and whether the passage supports it, with
the kind of mistake an unsupported one makes (changed figure, swapped unit, swapped subject,
recombined, contradiction, ...). The check's job is to catch the unsupported ones, so
precision and recall are reported for the verdict "unsupported".
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chat.support import Judgement, judge
from knowledge.evaluation import LabelledSetError, json_objects
from knowledge.retrieval import Passage


@dataclass(frozen=True)
class Pair:
    id: str
    sentence: str
    passage: str
    supported: bool
    kind: str
    heading: str = ""  # the passage's heading path, as every cited passage carries one
    split: str = ""  # "tune" or "held-out": the check's rules are tuned on one and reported on the other


def load_pairs(path: Path) -> list[Pair]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise LabelledSetError(f"{path.name} is not UTF-8 text.") from None
    pairs = []
    for number, row in json_objects(path.name, lines):
        sentence, passage, supported = row.get("sentence"), row.get("passage"), row.get("supported")
        if not (isinstance(sentence, str) and sentence.strip() and isinstance(passage, str) and passage.strip()):
            raise LabelledSetError(f"{path.name} line {number} needs a 'sentence' and a 'passage'.")
        if not isinstance(supported, bool):
            raise LabelledSetError(f"{path.name} line {number} needs 'supported': true or false.")
        heading = row.get("heading", "")
        if not isinstance(heading, str):
            raise LabelledSetError(f"{path.name} line {number}: 'heading' must be text.")
        split = row.get("split", "")
        if split not in ("", "tune", "held-out"):
            raise LabelledSetError(f'{path.name} line {number}: \'split\' is "tune" or "held-out".')
        pairs.append(
            Pair(str(row.get("id", number)), sentence, passage, supported, str(row.get("kind", "")), heading, split)
        )
    if not pairs:
        raise LabelledSetError(f"{path.name} has no pairs.")
    return pairs


def predictions(pairs: list[Pair], *, encode: Callable[[list[str]], np.ndarray]) -> list[Judgement]:
    """The check's judgement of each pair."""
    return [judge(p.sentence, {1: _passage(p.passage, p.heading)}, encode=encode) for p in pairs]


def scores(pairs: list[Pair], predicted: list[bool]) -> dict:
    caught = sum(not p.supported and not s for p, s in zip(pairs, predicted, strict=True))
    flagged = sum(not s for s in predicted)
    unsupported = sum(not p.supported for p in pairs)
    missed = Counter(p.kind for p, s in zip(pairs, predicted, strict=True) if not p.supported and s)
    return {
        "pairs": len(pairs),
        "unsupported": unsupported,
        "precision": round(caught / flagged, 4) if flagged else None,
        "recall": round(caught / unsupported, 4) if unsupported else None,
        "supported_kept": round(
            sum(p.supported and s for p, s in zip(pairs, predicted, strict=True)) / (len(pairs) - unsupported), 4
        )
        if len(pairs) > unsupported
        else None,
        "missed_by_kind": dict(missed),
    }


def _passage(text: str, heading: str) -> Passage:
    return Passage(chunk_id=0, document_id=0, document_title="", heading_path=heading, page=None, text=text, score=1.0)
