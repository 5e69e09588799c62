"""Whole-pipeline answer quality on a labelled question set (`evaluate_answers`).

A case is either covered (expected facts, each a list of acceptable spellings, and the
document that should be cited) or `not_covered`. Facts are matched as text in the answer,
so the figures are strict for paraphrases ("a fortnight") and lenient for nothing.
"""

import asyncio
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from asgiref.sync import sync_to_async
from django.db import connections

from chat import prompting
from chat.answering import answer_events
from chat.generation import Backend
from chat.models import Message
from chat.support import SUPPORTED
from knowledge import versions
from knowledge.evaluation import LabelledSetError, json_values, normalise
from knowledge.models import Document
from knowledge.retrieval import SearchOptions

REFUSAL = re.compile(
    r"could not find|do(?:es)? not cover|not covered|no information|don't have (?:any )?information|"
    r"not (?:mentioned|specified|stated) in",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    facts: list[list[str]]  # all facts expected; any spelling of each counts
    document: str  # source path of the document that should be cited ("" when not covered)
    dated: bool = False  # names a time ("in 2025", "next year"): the version in force then must be cited

    @property
    def covered(self) -> bool:
        return bool(self.facts)


@dataclass
class Outcome:
    case: Case
    answer: str = ""
    cited_texts: list[str] = field(default_factory=list)
    cited_documents: list[str] = field(default_factory=list)
    support: list[dict] = field(default_factory=list)
    right_version: bool | None = None  # None: the expected document has no other versions
    ttft_s: float | None = None
    called_model: bool = False
    error: str = ""

    @property
    def refused(self) -> bool:
        return bool(REFUSAL.search(self.answer)) or self.answer == prompting.NOT_COVERED_ANSWER

    @property
    def facts_found(self) -> bool:
        return all(_contains(self.answer, spellings) for spellings in self.case.facts)


def load_cases(path: Path) -> list[Case]:
    cases = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise LabelledSetError(f"{path.name} is not UTF-8 text.") from None
    for number, row in json_values(path.name, lines):
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise LabelledSetError(f"{path.name} line {number} needs a 'question'.")
        facts = row.get("facts") or []
        if row.get("not_covered") is True:
            facts = []
        elif not _valid_facts(facts):
            raise LabelledSetError(
                f"{path.name} line {number} needs 'facts' (a list of lists of spellings) or \"not_covered\": true."
            )
        facts = [[f] if isinstance(f, str) else f for f in facts]
        cases.append(
            Case(
                str(row.get("id", number)),
                row["question"].strip(),
                facts,
                str(row.get("document", "")),
                dated=row.get("dated") is True,
            )
        )
    if not cases:
        raise LabelledSetError(f"{path.name} has no questions.")
    return cases


def _valid_facts(facts) -> bool:
    return (
        isinstance(facts, list)
        and bool(facts)
        and all(
            (isinstance(f, str) and f) or (isinstance(f, list) and f and all(isinstance(s, str) and s for s in f))
            for f in facts
        )
    )


def _contains(text: str, spellings: list[str]) -> bool:
    body = normalise(re.sub(r"\[\d+\]", " ", text))
    return any(normalise(s) in body for s in spellings)


async def run_case(
    case: Case, *, user, backend: Backend, today: date | None = None, options: SearchOptions | None = None
) -> Outcome:
    outcome = Outcome(case)
    message_id = None
    started = time.perf_counter()
    async for item in answer_events(
        user=user, question=case.question, conversation_id=None, backend=backend, today=today, options=options
    ):
        kind = item["type"]
        if kind == "answer.start":
            message_id = item["message_id"]
        elif kind == "answer.delta" and outcome.ttft_s is None:
            outcome.ttft_s = time.perf_counter() - started
        elif kind == "answer.citations":
            outcome.cited_texts = [c["text"] for c in item["citations"]]
            outcome.cited_documents = [c["document_id"] for c in item["citations"]]
        elif kind == "error":
            outcome.error = item["message"]
        elif kind == "answer.end":
            outcome.answer = item.get("answer", "")
            outcome.support = item.get("support", [])
    outcome.called_model = bool(await Message.objects.filter(pk=message_id).values_list("backend", flat=True).afirst())
    outcome.right_version = await sync_to_async(_right_version)(case, outcome.cited_documents)
    return outcome


def _right_version(case: Case, cited_ids: list[int]) -> bool | None:
    """Cites the expected version and no other version of the same policy; None when it has no other versions."""
    expected = Document.objects.filter(source_path=case.document).first() if case.document else None
    if expected is None:
        return None
    others = versions.chain_ids(expected) - {expected.pk}
    if not others:
        return None
    return expected.pk in cited_ids and not others & set(cited_ids)


def run_all(
    cases: list[Case],
    *,
    user,
    backend: Backend,
    progress=None,
    today: date | None = None,
    options: SearchOptions | None = None,
) -> list[Outcome]:
    async def run() -> list[Outcome]:
        outcomes = []
        try:
            for case in cases:
                outcomes.append(await run_case(case, user=user, backend=backend, today=today, options=options))
                if progress:
                    progress(len(outcomes), len(cases))
        finally:  # the async ORM's worker thread keeps a connection open otherwise
            await sync_to_async(connections.close_all)()
        return outcomes

    return asyncio.run(run())


def summarise(outcomes: list[Outcome]) -> dict:
    """Time to first token counts answers the model wrote (a refusal without it is instant)."""
    covered = [o for o in outcomes if o.case.covered]
    not_covered = [o for o in outcomes if not o.case.covered]
    citations = [(o, text) for o in covered for text in o.cited_texts]
    precise = sum(any(_contains(text, spellings) for spellings in o.case.facts) for o, text in citations)
    sentences = [s for o in covered for s in o.support]
    ttfts = [o.ttft_s for o in outcomes if o.called_model and o.ttft_s is not None]
    versioned = [o for o in covered if o.right_version is not None]
    dated = [o for o in versioned if o.case.dated]
    undated = [o for o in versioned if not o.case.dated]
    return {
        "questions": len(outcomes),
        "covered": len(covered),
        "not_covered": len(not_covered),
        "facts": _share(sum(o.facts_found for o in covered), len(covered)),
        "citation_precision": _share(precise, len(citations)),
        "citations": len(citations),
        "unsupported_sentences": _share(sum(s["verdict"] != SUPPORTED for s in sentences), len(sentences)),
        "sentences_checked": len(sentences),
        "refusal_accuracy": _share(sum(o.refused for o in not_covered), len(not_covered)),
        "false_refusals": _share(sum(o.refused for o in covered), len(covered)),
        "dated": len(dated),
        "dated_right_version": sum(bool(o.right_version) for o in dated),
        "undated_versioned": len(undated),
        "undated_right_version": sum(bool(o.right_version) for o in undated),
        "errors": sum(bool(o.error) for o in outcomes),
        "ttft_p50_s": round(statistics.median(ttfts), 3) if ttfts else None,
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def best_floor(covered: list[float], not_covered: list[float]) -> tuple[float, int]:
    """The similarity floor that misclassifies fewest questions, placed halfway between neighbouring
    scores; among equals the one that lets fewest not-covered questions through (a refusal is
    safer than an invented answer). Returns it with the number misclassified."""
    points = sorted(set(covered) | set(not_covered))
    candidates = [0.0] + [(a + b) / 2 for a, b in zip(points, points[1:], strict=False)] + [points[-1] + 1e-3]

    def mistakes(floor: float) -> tuple[int, int]:
        leaked = sum(s >= floor for s in not_covered)
        return sum(s < floor for s in covered) + leaked, leaked

    best = min(candidates, key=mistakes)
    return round(best, 3), sum(s < best for s in covered) + sum(s >= best for s in not_covered)


def top_similarities(cases: list[Case], *, user, k: int) -> list[tuple[Case, float]]:
    """Each question's best cosine similarity among what retrieval returns to `user`."""
    from knowledge import retrieval

    return [(c, max((p.similarity for p in retrieval.search(user, c.question, k=k)), default=0.0)) for c in cases]
