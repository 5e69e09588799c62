"""Which version of a policy is in force on a day, and how a cited version is described.

A document is in force from `effective_from` (or always, when empty) through
`effective_until`, and stops when a newer version that supersedes it starts: on that
version's `effective_from`, or the day it was added when it has none. A newer version
counts only once it has searchable chunks, so a replacement that failed to ingest never
leaves a question without its policy. Supersession is a fact about the documents, not
about the reader: someone who may read only last year's version still does not get it
presented as today's rule.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Case, DateField, Exists, F, Min, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import TruncDate

from knowledge.dating import Period, format_day
from knowledge.models import Chunk, Document


def _starts() -> Case:
    """The first day in force: as set; for an undated newer version, the day it was added; else none."""
    return Case(
        When(effective_from__isnull=False, then=F("effective_from")),
        When(supersedes__isnull=False, then=TruncDate("created_at")),
        default=None,
        output_field=DateField(),
    )


def _live_successors() -> QuerySet[Document]:
    """Newer versions of the outer document that have chunks, each with the day it starts."""
    return (
        Document.objects.filter(supersedes=OuterRef("pk"))
        .filter(Exists(Chunk.objects.filter(document=OuterRef("pk"))))
        .annotate(starts=_starts())
    )


def in_force(documents: QuerySet[Document], period: Period) -> QuerySet[Document]:
    """The documents in force on at least one day of `period`."""
    return (
        documents.annotate(starts=_starts())
        .filter(
            Q(starts__isnull=True) | Q(starts__lte=period.end),
            Q(effective_until__isnull=True) | Q(effective_until__gte=period.start),
        )
        .exclude(Exists(_live_successors().filter(starts__lte=period.start)))
    )


@dataclass(frozen=True)
class VersionNote:
    state: str  # "" (undated, in force), "in_force", "superseded", "expired", "not_yet"
    label: str  # for the sources panel: "In force since 1 January 2026"

    @property
    def current(self) -> bool:
        return self.state in ("", "in_force")


UNDATED = VersionNote("", "")


def describe(document_ids: Iterable[int], today: date) -> dict[int, VersionNote]:
    """How each document stands on `today`; one query."""
    ids = set(document_ids)
    if not ids:
        return {}
    superseded_on = Subquery(
        _live_successors().order_by().values("supersedes").annotate(first=Min("starts")).values("first")[:1]
    )
    rows = (
        Document.objects.filter(pk__in=ids)
        .annotate(superseded_on=superseded_on, starts=_starts())
        .values("pk", "starts", "effective_until", "superseded_on")
    )
    return {row["pk"]: _note(row["starts"], row["effective_until"], row["superseded_on"], today) for row in rows}


def _note(starts: date | None, until: date | None, superseded_on: date | None, today: date) -> VersionNote:
    ends = [d for d in (until, superseded_on - timedelta(days=1) if superseded_on else None) if d]
    last_day = min(ends) if ends else None
    span = _span(starts, last_day)
    if superseded_on and superseded_on <= today:
        return VersionNote("superseded", f"Superseded on {format_day(superseded_on)}; in force {span}")
    if until and until < today:
        return VersionNote("expired", f"No longer in force; was in force {span}")
    if starts and starts > today:
        return VersionNote("not_yet", f"Not yet in force; in force {span}")
    if starts or last_day:
        return VersionNote("in_force", f"In force {span}")
    return UNDATED


def mid_sentence(label: str) -> str:
    """A label inside a sentence: "Leave: in force since 1 January 2026"."""
    return label[:1].lower() + label[1:]


def _span(starts: date | None, last_day: date | None) -> str:
    if starts and last_day:
        return f"from {format_day(starts)} to {format_day(last_day)}"
    if starts:
        return f"since {format_day(starts)}"
    return f"until {format_day(last_day)}" if last_day else ""


def chain_ids(document: Document) -> set[int]:
    """Every version linked to `document` through `supersedes`, either way, itself included."""
    seen = {document.pk}
    frontier = {document.pk}
    while frontier:
        linked = Document.objects.filter(Q(pk__in=frontier) | Q(supersedes__in=frontier)).values_list(
            "pk", "supersedes"
        )
        found = {i for pair in linked for i in pair if i is not None} - seen
        seen |= found
        frontier = found
    return seen


def would_cycle(document: Document, supersedes: Document | None) -> bool:
    """Whether making `document` supersede `supersedes` closes a loop of versions (read from the database)."""
    current = supersedes.pk if supersedes is not None else None
    seen = set()
    while current is not None:
        if current == document.pk or current in seen:
            return True
        seen.add(current)
        current = Document.objects.filter(pk=current).values_list("supersedes", flat=True).first()
    return False


def confirm_detected(documents: QuerySet[Document]) -> int:
    """Make the dates found in the text the effective dates, where the administrator has set none."""
    return (
        documents.filter(effective_from__isnull=True, detected_effective_from__isnull=False)
        .filter(
            Q(detected_effective_until__isnull=True) | Q(detected_effective_until__gte=F("detected_effective_from"))
        )
        .update(effective_from=F("detected_effective_from"), effective_until=F("detected_effective_until"))
    )
