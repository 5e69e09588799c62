"""Which version of a policy is in force on a day, and how a cited version is described.

A document is in force from `effective_from` (or always, when empty) through
`effective_until`, and stops when a newer version that supersedes it starts: on that
version's `effective_from`, or the day it was added when it has none. A newer version
counts only once it has searchable chunks, so a replacement that failed to ingest never
leaves a question without its policy. Supersession is a fact about the documents, not
about the reader: someone who may read only last year's version still does not get it
presented as today's rule.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import BooleanField, DateField, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from knowledge.dating import Period, format_day
from knowledge.models import Document

# Written as SQL on the outer `knowledge_document` row: the same rules as ORM expressions
# took 5.3 ms of Python to compile per question against 0.8 ms to run, on the path to the
# first token (measured on the demo handbook); these compile in microseconds.
_STARTS = (  # the first day in force: as set; for an undated newer version, the day it was added
    "COALESCE(knowledge_document.effective_from, CASE WHEN knowledge_document.supersedes_id IS NOT NULL "
    "THEN (knowledge_document.created_at AT TIME ZONE %s)::date END)"
)
_SUPERSEDED_ON = (  # the first day of the earliest newer version that has chunks
    "(SELECT MIN(COALESCE(newer.effective_from, (newer.created_at AT TIME ZONE %s)::date)) "
    "FROM knowledge_document newer WHERE newer.supersedes_id = knowledge_document.id "
    "AND EXISTS (SELECT 1 FROM knowledge_chunk c WHERE c.document_id = newer.id))"
)


def in_force(documents: QuerySet[Document], period: Period) -> QuerySet[Document]:
    """The documents in force on at least one day of `period`."""
    zone = timezone.get_current_timezone_name()
    condition = RawSQL(  # noqa: S611 - constant SQL, values bound as parameters
        f"({_STARTS} IS NULL OR {_STARTS} <= %s) "
        "AND (knowledge_document.effective_until IS NULL OR knowledge_document.effective_until >= %s) "
        f"AND ({_SUPERSEDED_ON} IS NULL OR {_SUPERSEDED_ON} > %s)",
        (zone, zone, period.end, period.start, zone, zone, period.start),
        output_field=BooleanField(),
    )
    return documents.filter(condition)


@dataclass(frozen=True)
class VersionNote:
    """How a version stands on a day: its state and the dates that make it so; `words` says it."""

    state: str  # "" (undated, in force), "in_force", "superseded", "expired", "not_yet"
    starts: date | None = None
    last_day: date | None = None
    superseded_on: date | None = None

    @property
    def label(self) -> str:
        """At the start of a line (the sources panel, the admin): "In force since 1 January 2026"."""
        return words(self)

    @property
    def clause(self) -> str:
        """Inside a sentence: "Leave and Holidays: in force since 1 January 2026"."""
        return words(self, inside_sentence=True)


UNDATED = VersionNote("")


def words(note: VersionNote, *, inside_sentence: bool = False) -> str:
    span = _span(note.starts, note.last_day)
    if note.state == "superseded":
        text = f"Superseded on {format_day(note.superseded_on)}; in force {span}"
    elif note.state == "expired":
        text = f"No longer in force; was in force {span}"
    elif note.state == "not_yet" and note.last_day is None:
        text = f"Not yet in force; comes into force on {format_day(note.starts)}"
    elif note.state == "not_yet":
        text = f"Not yet in force; will be in force {span}"
    elif note.state == "in_force":
        text = f"In force {span}"
    else:
        return ""
    return text[:1].lower() + text[1:] if inside_sentence else text


def describe(documents: QuerySet[Document], today: date) -> dict[int, VersionNote]:
    """How each document stands on `today`, read in the query that selects them."""
    rows = with_standing(documents).values("pk", *STANDING_FIELDS)
    return {row["pk"]: note_of(row, today) for row in rows}


STANDING_FIELDS = ("starts", "effective_until", "superseded_on")


def with_standing(documents: QuerySet[Document]) -> QuerySet[Document]:
    """Annotated with what `note_of` needs, so a caller already querying documents adds no query."""
    zone = timezone.get_current_timezone_name()
    return documents.annotate(
        superseded_on=RawSQL(_SUPERSEDED_ON, (zone,), output_field=DateField()),  # noqa: S611 - constant SQL
        starts=RawSQL(_STARTS, (zone,), output_field=DateField()),  # noqa: S611 - constant SQL
    )


def note_of(row: Mapping, today: date) -> VersionNote:
    """`row`: a `values()` row of `with_standing`, or `vars()` of a document it annotated."""
    return _note(row["starts"], row["effective_until"], row["superseded_on"], today)


def _note(starts: date | None, until: date | None, superseded_on: date | None, today: date) -> VersionNote:
    last_day = _last_day(until, superseded_on)
    if superseded_on and superseded_on <= today:
        state = "superseded"
    elif until and until < today:
        state = "expired"
    elif starts and starts > today:
        state = "not_yet"
    elif starts or last_day:
        state = "in_force"
    else:
        return UNDATED
    return VersionNote(state, starts, last_day, superseded_on)


def _last_day(until: date | None, superseded_on: date | None) -> date | None:
    ends = [d for d in (until, superseded_on - timedelta(days=1) if superseded_on else None) if d]
    return min(ends) if ends else None


def period_of(document: Document) -> Period:
    """Every day the document is in force, by the same rule as `in_force` (open ends as date.min/max)."""
    row = with_standing(Document.objects.filter(pk=document.pk)).values(*STANDING_FIELDS).get()
    return Period(row["starts"] or date.min, _last_day(row["effective_until"], row["superseded_on"]) or date.max)


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
