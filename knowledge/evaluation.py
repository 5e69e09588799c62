"""Retrieval metrics and the two labelled-set layouts `evaluate_retrieval` reads.

BEIR (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`): relevance is per corpus document,
so ranked chunks are collapsed to their documents. Labelled questions (JSON lines with a
`question` and verbatim `evidence`): a chunk is relevant when it contains an evidence text.
"""

import csv
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


class LabelledSetError(Exception):
    """The labelled set cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    relevant: dict[str, float]  # unit id -> gain (BEIR: corpus ids; labelled: evidence texts)


@dataclass(frozen=True)
class Corpus:
    documents: dict[str, tuple[str, str]]  # id -> (title, text), BEIR only


def json_values(name: str, lines: Iterable[str]) -> Iterator[tuple[int, object]]:
    """(line number, value) of each non-blank line; LabelledSetError names the file and line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabelledSetError(f"{name} line {number} is not valid JSON ({exc.msg}).") from None


def json_objects(name: str, lines: Iterable[str]) -> Iterator[tuple[int, dict]]:
    for number, row in json_values(name, lines):
        if not isinstance(row, dict):
            raise LabelledSetError(f"{name} line {number} is not a JSON object.")
        yield number, row


def _json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8") as handle:
        yield from json_objects(path.name, handle)


def _field(path: Path, number: int, row: dict, name: str):
    value = row.get(name)
    if value in (None, "", []):
        raise LabelledSetError(f"{path.name} line {number} has no '{name}'.")
    return value


def load_beir(path: Path, split: str = "test") -> tuple[Corpus, list[Query]]:
    corpus_file, queries_file, qrels_file = (
        path / "corpus.jsonl",
        path / "queries.jsonl",
        path / "qrels" / f"{split}.tsv",
    )
    for required in (corpus_file, queries_file, qrels_file):
        if not required.exists():
            raise LabelledSetError(f"{required} is missing.")
    documents = {}
    for number, row in _json_lines(corpus_file):
        documents[str(_field(corpus_file, number, row, "_id"))] = (row.get("title") or "", row.get("text") or "")
    qrels: dict[str, dict[str, float]] = {}
    with qrels_file.open(encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle, delimiter="\t"), start=2):
            try:
                score = float(row["score"])
                query_id, corpus_id = str(row["query-id"]), str(row["corpus-id"])
            except (KeyError, TypeError, ValueError):
                raise LabelledSetError(
                    f"{qrels_file.name} line {number} is not 'query-id, corpus-id, score'."
                ) from None
            if score > 0:
                qrels.setdefault(query_id, {})[corpus_id] = score
    queries = []
    for number, row in _json_lines(queries_file):
        query_id = str(_field(queries_file, number, row, "_id"))
        if query_id in qrels:
            queries.append(Query(query_id, str(_field(queries_file, number, row, "text")), qrels[query_id]))
    return Corpus(documents), queries


def load_labelled(path: Path) -> list[Query]:
    queries = []
    for number, row in _json_lines(path):
        if row.get("covered") is False:
            continue
        question = str(_field(path, number, row, "question"))
        evidence = _field(path, number, row, "evidence")
        evidence = evidence if isinstance(evidence, list) else [evidence]
        queries.append(Query(str(row.get("id", number)), question, {normalise(str(e)): 1.0 for e in evidence}))
    return queries


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", re.sub(r"[*_`#>|]", " ", text)).strip()


def evidence_units(chunk_text: str, query: Query) -> list[str]:
    """The evidence texts a chunk contains (whole, or a long one's opening or closing 80 characters)."""
    body = normalise(chunk_text)
    return [e for e in query.relevant if e in body or (len(e) > 120 and (e[:80] in body or e[-80:] in body))]


def score_ranking(ranked_units: Sequence[list[str]], relevant: dict[str, float]) -> dict[str, float]:
    """`ranked_units[i]` lists the relevant units the i-th result covers (empty when irrelevant)."""

    def recall(k: int) -> float:
        found = {u for units in ranked_units[:k] for u in units}
        return len(found) / len(relevant)

    first = next((rank for rank, units in enumerate(ranked_units[:10], start=1) if units), None)
    seen: set[str] = set()
    dcg = 0.0
    for rank, units in enumerate(ranked_units[:10], start=1):
        fresh = [u for u in units if u not in seen]
        seen.update(fresh)
        dcg += sum(relevant[u] for u in fresh) / math.log2(rank + 1)
    ideal = sum(g / math.log2(rank + 1) for rank, g in enumerate(sorted(relevant.values(), reverse=True)[:10], 1))
    return {
        "recall@5": recall(5),
        "recall@20": recall(20),
        "mrr@10": 1.0 / first if first else 0.0,
        "ndcg@10": dcg / ideal if ideal else 0.0,
    }


def mean_scores(per_query: list[dict[str, float]]) -> dict[str, float]:
    keys = per_query[0] if per_query else {}
    return {key: sum(s[key] for s in per_query) / len(per_query) for key in keys}


def collapse_to_documents(chunk_documents: list[str]) -> list[str]:
    """BEIR judges documents: keep each document's best-ranked chunk only."""
    return list(dict.fromkeys(chunk_documents))


PARTS = ("all", "tune", "heldout")


def in_part(query_id: str, part: str) -> bool:
    """A fixed half of the queries tunes (fusion weight, fine-tuning), the other half reports:
    by a hash of the id, so the split is the same on every machine and run."""
    if part == "all":
        return True
    tune = int(hashlib.sha256(query_id.encode()).hexdigest(), 16) % 2 == 0
    return tune == (part == "tune")
