"""Retrieval metrics and the two labelled-set layouts `evaluate_retrieval` reads.

BEIR (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`): relevance is per corpus document,
so ranked chunks are collapsed to their documents. Labelled questions (JSON lines with a
`question` and verbatim `evidence`): a chunk is relevant when it contains an evidence text.
"""

import csv
import json
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    relevant: dict[str, float]  # unit id -> gain (BEIR: corpus ids; labelled: evidence texts)


@dataclass(frozen=True)
class Corpus:
    documents: dict[str, tuple[str, str]]  # id -> (title, text), BEIR only


def load_beir(path: Path, split: str = "test") -> tuple[Corpus, list[Query]]:
    documents = {}
    with (path / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                documents[str(row["_id"])] = (row.get("title") or "", row.get("text") or "")
    qrels: dict[str, dict[str, float]] = {}
    with (path / "qrels" / f"{split}.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if float(row["score"]) > 0:
                qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = float(row["score"])
    queries = []
    with (path / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                if str(row["_id"]) in qrels:
                    queries.append(Query(str(row["_id"]), row["text"], qrels[str(row["_id"])]))
    return Corpus(documents), queries


def load_labelled(path: Path) -> list[Query]:
    queries = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("covered") is False:
                continue
            evidence = row["evidence"] if isinstance(row["evidence"], list) else [row["evidence"]]
            queries.append(Query(str(row.get("id", number)), row["question"], {normalise(e): 1.0 for e in evidence}))
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


Scorer = Callable[[Query], dict[str, float]]
