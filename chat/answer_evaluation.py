"""Whole-pipeline answer quality on a labelled question set (`evaluate_answers`).

A case is either covered (expected facts, each a list of acceptable spellings, and the
document that should be cited) or `not_covered`. Facts are matched as whole words in the
answer ("5 days" is not inside "15 days"), with quotes and dashes normalised, so the figures
are strict for paraphrases ("a fortnight") and lenient for nothing. `wrong_figures` counts
answers that state a figure no passage they cite states; `cut_short`, answers that show a
sentence without its end; `metadata_shown`, answers that quote a file's front matter or its
site's template tags.
"""

import asyncio
import contextlib
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from asgiref.sync import sync_to_async
from django.db import connections

from chat import figures
from chat.answering import EXTRACTIVE_BACKEND, answer_events
from chat.generation import Backend
from chat.models import Message
from chat.support import SUPPORTED, flat
from knowledge import versions
from knowledge.evaluation import LabelledSetError, json_values, normalise
from knowledge.models import Document
from knowledge.retrieval import SearchOptions
from knowledge.sentences import sentences

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
    user: str = ""  # asked as this person (a demo user, whose personal record is loaded); "" as an evaluator
    after: str = ""  # the id of an earlier case: asked in that case's conversation, as a follow-up

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
    answered: bool = False  # the answer was made (by the documents' sentences or the model), not declined
    notes: list[str] = field(default_factory=list)  # the product's notes after the answer (dates, disagreements)
    error: str = ""
    conversation_id: int | None = None
    record_texts: list[str] = field(default_factory=list)  # the cited passages that are personal records
    incomplete: list[str] = field(default_factory=list)  # the parts of the question the answer says it lacks

    @property
    def record_dump(self) -> bool:
        """Shows a personal record rather than the fields asked for: its opening line, or three or more of its lines."""
        shown = flat(_MARKERS.sub("", self.answer))
        for record in self.record_texts:
            lines = [flat(line) for line in record.splitlines() if line.strip()]
            if any(line.startswith("personal record of") and line in shown for line in lines):
                return True
            if sum(len(line) > 8 and line.rstrip(".") in shown for line in lines) >= 3:
                return True
        return False

    @property
    def refused(self) -> bool:
        """Declined by the product (nothing answered), or by the model in its own words."""
        return not self.answered or (self.called_model and bool(REFUSAL.search(self.answer)))

    @property
    def wrong_figures(self) -> list[str]:
        """Dates of versions in the product's notes come from the documents' metadata, not their text."""
        body = self.answer
        for note in self.notes:
            body = body.replace(note.strip(), " ")
        return wrong_figures(body, self.cited_texts) if self.answered else []

    @property
    def facts_found(self) -> bool:
        return all(contains(self.answer, spellings) for spellings in self.case.facts)

    @property
    def cut_short(self) -> list[str]:
        return cut_short(self.answer, self.cited_texts) if self.answered and not self.refused else []

    def metadata_shown(self, keys: set[str]) -> bool:
        return self.answered and shows_metadata(self.answer, keys)


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
        case = Case(
            str(row.get("id", number)),
            row["question"].strip(),
            facts,
            str(row.get("document", "")),
            dated=row.get("dated") is True,
            user=str(row.get("user") or ""),
            after=str(row.get("after") or ""),
        )
        earlier = {c.id: c for c in cases}
        if case.after and case.after not in earlier:
            raise LabelledSetError(f"{path.name} line {number}: 'after' must name an earlier case's id.")
        if case.after and earlier[case.after].user != case.user:
            raise LabelledSetError(f"{path.name} line {number}: a follow-up is asked by the same person.")
        cases.append(case)
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


_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})


def _plain(text: str) -> str:
    return normalise(re.sub(r"\[\d+\]", " ", text).translate(_QUOTES))


def contains(text: str, spellings: list[str]) -> bool:
    """Any spelling as whole words of `text`: "5 days" does not match inside "15 days"."""
    body = _plain(text)
    return any(re.search(rf"(?<![\w.,]){re.escape(_plain(s))}(?![\w]|[.,]\d)", body) for s in spellings)


def wrong_figures(answer: str, cited_texts: list[str]) -> list[str]:
    """Figures the answer states that no passage it cites states (value and what it counts)."""
    stated = [f for f in figures.figures(re.sub(r"\[\d+\]", " ", answer))]
    available = [f for text in cited_texts for f in figures.figures(text)]
    return [f.value for f in stated if not figures.figure_supported(f, available)]


_MARKERS = re.compile(r"\s*\[\d+\]")
_ENDED = re.compile(r"[.!?:;…][\"'”’)\]]*$")
_OPEN_ENDING = re.compile(
    r"(?:[,(\-–]|\b(?:a|an|the|and|or|but|of|to|in|on|at|by|for|with|from|as|is|are|be|that|which|who|if|than|"
    r"not|no|your|their|our|its|this|these|per|up|any|all|each|every|such|including)\b)$",
    re.IGNORECASE,
)


def cut_short(answer: str, cited_texts: list[str]) -> list[str]:
    """The shown sentences that stop before their end: one that runs on in the passage it came
    from (the next word continues it), or ends on a comma, a hyphen or a word that needs another
    ("of", "the", "or")."""
    passages = [_flat(part) for text in cited_texts for part in re.split(r"\n\s*\n", text)]
    cut = []
    for line in answer.split("\n"):
        for sentence in sentences(_MARKERS.sub("", line)):
            text = sentence.strip().lstrip("-*• ").strip()
            if len(text) < 8 or _ENDED.search(text):
                continue
            if _OPEN_ENDING.search(text) or _runs_on(_flat(text), passages):
                cut.append(text)
    return cut


def _flat(text: str) -> str:
    """Spacing and quotes set aside, case kept: a lower-case word after a line end continues a sentence."""
    return " ".join(text.translate(_QUOTES).replace("*", " ").replace("_", " ").split())


def _runs_on(sentence: str, passages: list[str]) -> bool:
    tail = sentence[-60:]
    for passage in passages:
        at = passage.find(tail)
        while at >= 0:
            after = passage[at + len(tail) : at + len(tail) + 2]
            if re.match(r"\s?[a-z0-9(]", after):
                return True
            at = passage.find(tail, at + 1)
    return False


# Keys only front matter uses ("categories:" and "title:" are English too); the evaluated files' own keys are added.
FRONT_MATTER_KEYS = {
    "layout", "permalink", "redirect_from", "redirect_to", "last_reviewed", "nav_order", "has_children", "aliases",
}  # fmt: skip
_TEMPLATE_TAG = re.compile(r"{%.*?%}|{{.*?}}|^\s*(?:---|\+\+\+)\s*$", re.MULTILINE | re.DOTALL)


def shows_metadata(answer: str, keys: set[str]) -> bool:
    """A template tag, a front matter delimiter, or "key: value" / "key = value" of a front matter key."""
    if _TEMPLATE_TAG.search(answer):
        return True
    names = "|".join(sorted(re.escape(k) for k in keys | FRONT_MATTER_KEYS))
    return bool(re.search(rf"(?:^|\s)(?:{names})\s*(?::|=)\s+\S", answer, re.IGNORECASE))


def front_matter_keys(folder: Path) -> set[str]:
    """The front matter keys of the Markdown files under `folder`: what an answer must never quote."""
    from knowledge.parsing.front_matter import split_front_matter

    keys: set[str] = set()
    for path in folder.rglob("*.md"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            keys |= set(split_front_matter(path.read_text(encoding="utf-8"))[0])
    return keys


async def run_case(
    case: Case,
    *,
    user,
    backend: Backend,
    today: date | None = None,
    options: SearchOptions | None = None,
    mode: str | None = None,
    conversation_id: int | None = None,
) -> Outcome:
    outcome = Outcome(case)
    message_id = None
    started = time.perf_counter()
    async for item in answer_events(
        user=user,
        question=case.question,
        conversation_id=conversation_id,
        backend=backend,
        today=today,
        options=options,
        mode=mode,
    ):
        kind = item["type"]
        if kind == "answer.start":
            message_id = item["message_id"]
            outcome.conversation_id = item["conversation_id"]
        elif kind == "answer.delta" and outcome.ttft_s is None:
            outcome.ttft_s = time.perf_counter() - started
        elif kind == "answer.citations":
            outcome.cited_texts = [c["text"] for c in item["citations"]]
            outcome.cited_documents = [c["document_id"] for c in item["citations"]]
        elif kind == "error":
            outcome.error = item["message"]
        elif kind == "answer.end":
            outcome.answer = item.get("answer", "")
            outcome.notes = item.get("notes", [])
            outcome.support = item.get("support", [])
            outcome.incomplete = item.get("incomplete", [])
    made_by = await Message.objects.filter(pk=message_id).values_list("backend", flat=True).afirst()
    outcome.answered = bool(made_by)
    outcome.called_model = bool(made_by) and made_by != EXTRACTIVE_BACKEND
    outcome.right_version = await sync_to_async(_right_version)(case, outcome.cited_documents)
    records = await sync_to_async(_record_ids)(outcome.cited_documents)
    outcome.record_texts = [
        t for t, d in zip(outcome.cited_texts, outcome.cited_documents, strict=True) if d in records
    ]
    return outcome


def _record_ids(document_ids: list[int]) -> set[int]:
    from knowledge.access import RECORDS_PREFIX

    return set(
        Document.objects.filter(pk__in=document_ids, source_path__startswith=RECORDS_PREFIX).values_list(
            "pk", flat=True
        )
    )


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
    people: dict | None = None,
    progress=None,
    today: date | None = None,
    options: SearchOptions | None = None,
    mode: str | None = None,
) -> list[Outcome]:
    async def run() -> list[Outcome]:
        outcomes: list[Outcome] = []
        conversations: dict[str, int | None] = {}
        try:
            for case in cases:
                asker = (people or {})[case.user] if case.user else user
                outcome = await run_case(
                    case,
                    user=asker,
                    backend=backend,
                    today=today,
                    options=options,
                    mode=mode,
                    conversation_id=conversations.get(case.after),
                )
                conversations[case.id] = outcome.conversation_id
                outcomes.append(outcome)
                if progress:
                    progress(len(outcomes), len(cases))
        finally:  # the async ORM's worker thread keeps a connection open otherwise
            await sync_to_async(connections.close_all)()
        return outcomes

    return asyncio.run(run())


def summarise(outcomes: list[Outcome], metadata_keys: set[str] | None = None) -> dict:
    """Time to first shown text counts answers made (a refusal is instant); `wrong_figures` is the share
    of covered answers stating a figure that no passage they cite states; `cut_short` and
    `metadata_shown` are counts of answers, over every question."""
    covered = [o for o in outcomes if o.case.covered]
    not_covered = [o for o in outcomes if not o.case.covered]
    citations = [(o, text) for o in covered if not o.refused for text in o.cited_texts]  # not related reading
    precise = sum(any(contains(text, spellings) for spellings in o.case.facts) for o, text in citations)
    sentences = [s for o in covered for s in o.support]
    ttfts = [o.ttft_s for o in outcomes if o.answered and o.ttft_s is not None]
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
        "wrong_figures": _share(sum(bool(o.wrong_figures) for o in covered), len(covered)),
        "wrong_figures_any": _share(sum(bool(o.wrong_figures) for o in outcomes), len(outcomes)),
        "cut_short": sum(bool(o.cut_short) for o in outcomes),
        "record_dumps": sum(o.record_dump for o in outcomes),
        "incomplete_said": sum(bool(o.incomplete) for o in outcomes),
        "metadata_shown": sum(o.metadata_shown(metadata_keys or set()) for o in outcomes),
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


def case_record(outcome: Outcome) -> dict:
    """One line of `--jsonl`: everything needed to audit a case's verdicts by hand."""
    case = outcome.case
    return {
        "id": case.id,
        "question": case.question,
        "covered": case.covered,
        "facts": case.facts,
        "answer": outcome.answer,
        "citations": outcome.cited_texts,
        "verdicts": {
            "facts_found": outcome.facts_found if case.covered else None,
            "refused": outcome.refused,
            "wrong_figures": outcome.wrong_figures,
            "cited_passages_with_a_fact": [
                any(contains(text, spellings) for spellings in case.facts) for text in outcome.cited_texts
            ],
            "right_version": outcome.right_version,
            "cut_short": outcome.cut_short,
            "record_dump": outcome.record_dump,
            "incomplete": outcome.incomplete,
            "metadata_shown": outcome.metadata_shown(set()),
        },
        "support": outcome.support,
        "ttft_s": outcome.ttft_s,
        "error": outcome.error,
    }
