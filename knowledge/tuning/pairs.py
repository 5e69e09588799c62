"""Question–passage pairs from three sources, de-duplicated, with a held-out split that never trains.

A passage is the text a chunk is embedded as (heading path and text), so training sees what
retrieval compares. The split is by question: all pairs of one question sit on one side.
"""

import csv
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from knowledge.chunking import embedding_text
from knowledge.evaluation import LabelledSetError, json_objects, normalise

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_TEXT_CHARS = 20_000
QUESTION_FIELDS = ("question", "query", "anchor")
PASSAGE_FIELDS = ("passage", "positive", "answer")


class TrainingDataError(Exception):
    """The message names the file and line, in words for the person who wrote it."""


@dataclass(frozen=True)
class Pair:
    question: str
    passage: str
    source: str  # "file", "feedback" or "synthetic"


class PassageIndex:
    """The knowledge base's chunks as embedded, to turn a verbatim evidence quote into its chunk."""

    def __init__(self, chunks: Iterable[tuple[str, str]]) -> None:
        self.passages = list(dict.fromkeys(embedding_text(heading, text) for heading, text in chunks))
        self._normalised = [normalise(p) for p in self.passages]

    def containing(self, evidence: str) -> list[str]:
        wanted = normalise(evidence)
        return [p for p, body in zip(self.passages, self._normalised, strict=True) if wanted and wanted in body]


def from_file(path: Path, index: PassageIndex) -> list[Pair]:
    """JSON lines or CSV with a question and a passage (or answer); `evidence` quotes a chunk instead."""
    try:
        size = path.stat().st_size
    except OSError:
        raise TrainingDataError(f"{path} cannot be read.") from None
    if size > MAX_FILE_BYTES:
        raise TrainingDataError(f"{path.name} is {size // (1024 * 1024)} MB; the limit is 50 MB.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TrainingDataError(f"{path.name} is not UTF-8 text.") from None
    if "\x00" in text:
        raise TrainingDataError(f"{path.name} is binary, not JSON lines or CSV.")
    rows = _csv_rows(path, text) if path.suffix.lower() in (".csv", ".tsv") else _json_rows(path, text)
    pairs = []
    for number, row in rows:
        if row.get("covered") is False:
            continue
        question = _text(path, number, row, QUESTION_FIELDS)
        passages = _passages(path, number, row, index)
        pairs.extend(Pair(question, passage, "file") for passage in passages)
    if not pairs:
        raise TrainingDataError(f"{path.name} holds no question–passage pairs.")
    return pairs


def _json_rows(path: Path, text: str) -> Iterator[tuple[int, dict]]:
    try:
        yield from json_objects(path.name, text.splitlines())
    except LabelledSetError as exc:
        raise TrainingDataError(str(exc)) from None


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    if not reader.fieldnames or not set(QUESTION_FIELDS) & {f.strip().lower() for f in reader.fieldnames}:
        raise TrainingDataError(f"{path.name} needs a header row with a 'question' column.")
    try:
        for number, row in enumerate(reader, start=2):
            yield number, {(k or "").strip().lower(): v for k, v in row.items()}
    except csv.Error as exc:
        raise TrainingDataError(f"{path.name} is not valid CSV ({exc}).") from None


def _text(path: Path, number: int, row: dict, fields: tuple[str, ...]) -> str:
    value = next((row[f] for f in fields if row.get(f) not in (None, "")), None)
    if not isinstance(value, str) or not value.strip():
        raise TrainingDataError(f"{path.name} line {number} has no '{fields[0]}' text.")
    if len(value) > MAX_TEXT_CHARS:
        raise TrainingDataError(f"{path.name} line {number}: '{fields[0]}' is over {MAX_TEXT_CHARS} characters.")
    return " ".join(value.split())


def _passages(path: Path, number: int, row: dict, index: PassageIndex) -> list[str]:
    if row.get("evidence") not in (None, "", []):
        evidence = row["evidence"] if isinstance(row["evidence"], list) else [row["evidence"]]
        if not all(isinstance(e, str) and e.strip() for e in evidence):
            raise TrainingDataError(f"{path.name} line {number}: 'evidence' must be text or a list of texts.")
        found = [p for e in evidence for p in index.containing(e)]
        return list(dict.fromkeys(found)) or [" ".join(e.split()) for e in evidence]
    return [_text(path, number, row, PASSAGE_FIELDS)]


def from_feedback(rated: Iterable[tuple[str, str, str]]) -> list[Pair]:
    """(question, heading path, text) of passages cited by answers their askers found helpful."""
    return [Pair(" ".join(q.split()), embedding_text(h, t), "feedback") for q, h, t in rated if q.strip()]


def synthetic(
    chunks: Iterable[tuple[str, str]], *, headings: bool = True, write_question: Callable[[str], str] | None = None
) -> list[Pair]:
    """Each chunk paired with its heading path read as a query (`headings`), and with a question a
    language model wrote for it when one is given (an empty answer adds nothing)."""
    pairs = []
    for heading, text in chunks:
        passage = embedding_text(heading, text)
        parts = [p.strip() for p in heading.split(">") if p.strip()]
        if parts and headings:
            pairs.append(Pair(" – ".join(parts[-2:]), passage, "synthetic"))
        if write_question is not None and (question := write_question(passage).strip()):
            pairs.append(Pair(question, passage, "synthetic"))
    return pairs


def deduplicated(pairs: Iterable[Pair]) -> list[Pair]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for pair in pairs:
        key = (normalise(pair.question), normalise(pair.passage))
        if key not in seen and key[0] and key[1]:
            seen.add(key)
            kept.append(pair)
    return kept


def split(pairs: list[Pair], *, holdout: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, held out). Held-out questions come from real questions (file, feedback) when there
    are any; no pair whose question is held out trains, whatever its source."""
    real = [p for p in pairs if p.source != "synthetic"] or pairs
    questions = sorted({normalise(p.question) for p in real}, key=lambda q: _hash(seed, q))
    count = min(len(questions) - 1, max(1, round(len(questions) * holdout))) if holdout > 0 and questions else 0
    held = set(questions[:count])
    heldout = [p for p in real if normalise(p.question) in held]
    train = [p for p in pairs if normalise(p.question) not in held]
    return train, heldout


def _hash(seed: int, question: str) -> str:
    return hashlib.sha256(f"{seed}:{question}".encode()).hexdigest()


def describe(pairs: list[Pair]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair.source] = counts.get(pair.source, 0) + 1
    return counts
