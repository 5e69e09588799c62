"""Contradicting figures between documents in force at the same time.

Two sentences conflict when they come from different documents in force together (never
two versions of one policy), state different figures in the same unit ("25 days of paid
annual leave" against "28 days of paid annual leave") and say nearly the same thing: most
of their words are shared (CONFLICT_MIN_WORD_OVERLAP) and their embeddings are close
(CONFLICT_MIN_SIMILARITY). Embeddings alone cannot tell "a learning budget of 1,000 EUR
per year" from "books up to 200 EUR per year" (0.73) apart from a true contradiction
(0.72); the shared words can (0.21 against 0.64). Measured on the demo handbook, whose
policies agree: no pair passes both. A paraphrase with few shared words is missed.

Candidates are limited to passages whose stored vectors are close, so a document is
compared with the few passages that could contradict it, not with the whole corpus.
Found after ingestion; answers look them up by chunk id, one indexed query per question.

Personal records never take part: two people's balances differ by nature, and a conflict
names both sides' sentences, so one person's record would surface beside another's (and a
look-alike public document could be used to probe a record's figures).
"""

import itertools
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from pgvector.django import CosineDistance

from knowledge import embedding
from knowledge.access import RECORDS_PREFIX
from knowledge.models import Chunk, Conflict, Document
from knowledge.sentences import sentences
from knowledge.versions import chain_ids, in_force, period_of

CANDIDATES_PER_CHUNK = 5
CHUNK_MAX_DISTANCE = 0.6  # passages further apart than this say different things

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
}
_UNITS = {
    "day": "days",
    "days": "days",
    "week": "weeks",
    "weeks": "weeks",
    "month": "months",
    "months": "months",
    "year": "years",
    "years": "years",
    "hour": "hours",
    "hours": "hours",
    "%": "percent",
    "percent": "percent",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
}
_NUMBER = r"\d+(?:[.,]\d+)*|" + "|".join(_NUMBER_WORDS)
_FIGURE = re.compile(
    rf"(?P<currency>€|\bEUR\s?)?(?P<number>{_NUMBER})\s?(?:-|\s)?(?P<unit>%|\b(?:percent|working days?|calendar days?|"
    r"days?|weeks?|months?|years?|hours?|eur|euros?)\b)?",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z][a-z-]+")
_STOP_WORDS = frozenset(
    "the an of to in for and or on at by with per any may must be is are your you their they from than more "
    "up as this that each after before within".split()
)


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    text: str


def figures(sentence: str) -> list[Figure]:
    """Amounts with a unit; a bare number (a year, a form number) is not a figure."""
    found = []
    for match in _FIGURE.finditer(sentence):
        raw = match["number"].lower()
        named = (match["unit"] or "").lower().split()
        unit = "EUR" if match["currency"] else _UNITS.get(named[-1]) if named else None
        if not unit:
            continue
        value = float(_NUMBER_WORDS[raw]) if raw in _NUMBER_WORDS else float(raw.replace(",", ""))
        found.append(Figure(value, unit, match.group().strip()))
    return found


def word_overlap(a: str, b: str) -> float:
    """Jaccard overlap of the two sentences' content words."""
    left, right = _content_words(a), _content_words(b)
    return len(left & right) / len(left | right) if left | right else 0.0


def _content_words(sentence: str) -> set[str]:
    return {w for w in _WORD.findall(sentence.lower()) if len(w) > 2 and w not in _STOP_WORDS}


def _figure_sentences(text: str) -> list[tuple[str, list[Figure]]]:
    """Each distinct sentence that states a figure, once (a repeated sentence is one conflict)."""
    return list({s: f for s in sentences(text) if (f := figures(s))}.items())


def differing(a: list[Figure], b: list[Figure]) -> str:
    """'25 days ≠ 28 days' when a unit both sentences use has different values; '' otherwise."""
    parts = []
    for unit in sorted({f.unit for f in a} & {f.unit for f in b}):
        left = sorted({f.value for f in a if f.unit == unit})
        right = sorted({f.value for f in b if f.unit == unit})
        if left != right:
            parts.append(f"{_amounts(a, unit)} ≠ {_amounts(b, unit)}")
    return "; ".join(parts)


def _amounts(found: list[Figure], unit: str) -> str:
    return ", ".join(dict.fromkeys(f.text for f in found if f.unit == unit))


def conflicts_detect(*, document_id: int) -> int:
    """Replace the conflicts found for one document; returns how many it has now.

    Dismissed conflicts stay dismissed while both sentences read the same.
    """
    candidates = Document.objects.filter(status=Document.Status.READY).exclude(source_path__startswith=RECORDS_PREFIX)
    document = candidates.filter(pk=document_id).first()
    if document is None:
        Conflict.objects.filter(Q(document_id=document_id) | Q(other_document_id=document_id)).delete()
        return 0
    others = in_force(candidates, period_of(document)).exclude(pk__in=chain_ids(document)).values_list("pk", flat=True)
    found = _find(document, list(others))
    texts = list(dict.fromkeys(sentence for pair in found for sentence in (pair[1], pair[3])))
    vectors = dict(zip(texts, embedding.encode(texts), strict=True))
    kept = []
    for chunk_a, sentence_a, chunk_b, sentence_b in found:
        similarity = float(vectors[sentence_a] @ vectors[sentence_b])
        if similarity >= settings.CONFLICT_MIN_SIMILARITY:
            if chunk_a.document_id > chunk_b.document_id:  # stored in document order
                chunk_a, sentence_a, chunk_b, sentence_b = chunk_b, sentence_b, chunk_a, sentence_a
            kept.append((chunk_a, sentence_a, chunk_b, sentence_b, similarity))
    with transaction.atomic():
        touching = Conflict.objects.filter(Q(document=document) | Q(other_document=document))
        dismissed = {
            (c.document_id, c.sentence, c.other_document_id, c.other_sentence): c
            for c in touching.exclude(dismissed_at=None)
        }
        touching.filter(dismissed_at=None).delete()
        for chunk_a, sentence_a, chunk_b, sentence_b, similarity in kept:
            key = (chunk_a.document_id, sentence_a, chunk_b.document_id, sentence_b)
            if key in dismissed:
                Conflict.objects.filter(pk=dismissed[key].pk).update(chunk_id=chunk_a.pk, other_chunk_id=chunk_b.pk)
                continue
            Conflict.objects.create(
                document_id=chunk_a.document_id,
                chunk_id=chunk_a.pk,
                sentence=sentence_a,
                other_document_id=chunk_b.document_id,
                other_chunk_id=chunk_b.pk,
                other_sentence=sentence_b,
                figures=differing(figures(sentence_a), figures(sentence_b))[:300],
                similarity=round(similarity, 4),
            )
        return touching.count()


def _find(document: Document, other_ids: list[int]) -> list[tuple[Chunk, str, Chunk, str]]:
    """Sentence pairs with differing figures and mostly the same words, in passages close to one another."""
    if not other_ids:
        return []
    parsed: dict[int, list[tuple[str, list[Figure]]]] = {}  # a nearby passage is often near several of ours
    pairs = []
    for chunk in document.chunks.all():
        mine = _figure_sentences(chunk.text)
        if not mine:
            continue
        near = (
            Chunk.objects.filter(document_id__in=other_ids)
            .annotate(distance=CosineDistance("embedding", chunk.embedding))
            .filter(distance__lte=CHUNK_MAX_DISTANCE)
            .order_by("distance")[:CANDIDATES_PER_CHUNK]
        )
        for other in near:
            theirs = parsed.setdefault(other.pk, _figure_sentences(other.text))
            for (sentence_a, figures_a), (sentence_b, figures_b) in itertools.product(mine, theirs):
                if (
                    differing(figures_a, figures_b)
                    and word_overlap(sentence_a, sentence_b) >= settings.CONFLICT_MIN_WORD_OVERLAP
                ):
                    pairs.append((chunk, sentence_a, other, sentence_b))
    return pairs


@dataclass(frozen=True)
class Disagreement:
    chunk_id: int
    sentence: str
    other_chunk_id: int
    other_sentence: str


def in_open_conflict(document_ids: set[int], among: frozenset[int]) -> set[int]:
    """Which of `document_ids` has an open conflict with another document of `among` (the ids
    the asker may read). A conflict with a document outside `among` does not count: its flag
    would tell that such a document exists and disagrees."""
    pairs = (
        Conflict.objects.filter(dismissed_at=None)
        .filter(Q(document_id__in=document_ids) | Q(other_document_id__in=document_ids))
        .values_list("document_id", "other_document_id")
    )
    found = set()
    for one, other in pairs:
        if one in document_ids and other in among:
            found.add(one)
        if other in document_ids and one in among:
            found.add(other)
    return found


def disagreements(chunk_ids: list[int], document_ids: list[int]) -> list[Disagreement]:
    """Open conflicts touching these passages whose two documents are both in `document_ids`."""
    rows = Conflict.objects.filter(
        Q(chunk_id__in=chunk_ids) | Q(other_chunk_id__in=chunk_ids),
        dismissed_at=None,
        document_id__in=document_ids,
        other_document_id__in=document_ids,
    ).values_list("chunk_id", "sentence", "other_chunk_id", "other_sentence")
    return [Disagreement(*row) for row in rows]
