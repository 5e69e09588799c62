"""Versions of a policy: retrieval uses the one in force for the period asked about, per reader's rights."""

from dataclasses import dataclass
from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from knowledge import retrieval, versions
from knowledge.dating import format_day
from knowledge.folders import folder_ingest
from knowledge.manifest import ManifestError
from knowledge.models import Document
from knowledge.retrieval import SearchOptions

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 23)
QUESTION = "How many days of paid annual leave do full-time employees get?"


def policy(year: int, days: int) -> str:
    return (
        f"# Leave policy {year}\n\n## Entitlement\n\n"
        f"Full-time employees receive {days} days of paid annual leave per calendar year.\n\n"
        "## Booking\n\nBook leave in PeopleHub."
    )


@dataclass
class Versions:
    v2025: Document
    v2026: Document
    v2027: Document
    other: Document


@pytest.fixture
def three_versions(ingest, people) -> Versions:
    v2025 = ingest("leave-2025.md", policy(2025, 23))
    v2026 = ingest("leave-2026.md", policy(2026, 25))
    v2027 = ingest("leave-2027.md", policy(2027, 26))
    other = ingest("trains.md", "# Travel\n\n## Trains\n\nTake the train for trips under 500 km.")
    Document.objects.filter(pk=v2025.pk).update(effective_from=date(2025, 1, 1), effective_until=date(2025, 12, 31))
    Document.objects.filter(pk=v2026.pk).update(supersedes=v2025, effective_from=date(2026, 1, 1))
    Document.objects.filter(pk=v2027.pk).update(supersedes=v2026, effective_from=date(2027, 1, 1))
    return Versions(v2025, v2026, v2027, other)


def found(user, question: str, *, today: date = TODAY, **kwargs) -> set[int]:
    return {p.document_id for p in retrieval.search(user, question, k=10, today=today, **kwargs)}


def leave_versions(v: Versions) -> set[int]:
    return {v.v2025.pk, v.v2026.pk, v.v2027.pk}


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (QUESTION, "v2026"),
        ("How many days of paid annual leave do full-time employees get this year?", "v2026"),
        ("How many days of paid annual leave did full-time employees get in 2025?", "v2025"),
        ("How many days of paid annual leave did full-time employees get last year?", "v2025"),
        ("How many days of paid annual leave will full-time employees get in 2027?", "v2027"),
        ("How many days of paid annual leave do full-time employees get from 1 January 2027?", "v2027"),
        ("What was the paid annual leave of full-time employees in March 2025?", "v2025"),
    ],
)
def test_the_version_in_force_for_the_period_asked_about_answers(three_versions, people, question, expected):
    got = found(people.carol, question)
    assert got & leave_versions(three_versions) == {getattr(three_versions, expected).pk}


def test_a_question_spanning_two_years_gets_both_versions(three_versions, people):
    got = found(people.carol, "How did paid annual leave change between 2025 and 2026?")
    assert got & leave_versions(three_versions) == {three_versions.v2025.pk, three_versions.v2026.pk}


def test_before_any_version_nothing_of_the_policy_is_in_force(three_versions, people):
    assert not found(people.carol, "How much paid annual leave did full-time employees get in 2019?") & leave_versions(
        three_versions
    )


def test_without_versions_every_version_competes(three_versions, people):
    """The baseline `evaluate_answers --ignore-versions` measures."""
    got = found(people.carol, QUESTION, options=SearchOptions(versions=False))
    assert got >= leave_versions(three_versions)


def test_each_passage_says_how_its_version_stands_today(three_versions, people):
    notes = versions.describe(
        Document.objects.filter(pk__in=leave_versions(three_versions) | {three_versions.other.pk}), TODAY
    )
    said = {pk: (note.state, note.label, note.clause) for pk, note in notes.items()}
    assert said[three_versions.v2025.pk] == (
        "superseded",
        "Superseded on 1 January 2026; in force from 1 January 2025 to 31 December 2025",
        "superseded on 1 January 2026; in force from 1 January 2025 to 31 December 2025",
    )
    assert said[three_versions.v2026.pk] == (
        "in_force",
        "In force from 1 January 2026 to 31 December 2026",
        "in force from 1 January 2026 to 31 December 2026",
    )
    assert said[three_versions.v2027.pk] == (
        "not_yet",
        "Not yet in force; comes into force on 1 January 2027",
        "not yet in force; comes into force on 1 January 2027",
    )
    assert notes[three_versions.v2025.pk].superseded_on == date(2026, 1, 1), "the note carries its dates"
    assert notes[three_versions.other.pk] == versions.UNDATED
    passages = retrieval.search(people.carol, "paid annual leave in 2025", k=3, today=TODAY)
    assert passages[0].version_state == "superseded" and passages[0].version.startswith("Superseded on")


def test_a_newer_version_that_failed_to_ingest_does_not_retire_the_old_one(three_versions, people, ingest):
    broken = ingest("leave-2026b.pdf", b"%PDF-1.4 nonsense")
    assert broken.status == Document.Status.FAILED
    Document.objects.filter(pk=broken.pk).update(supersedes=three_versions.v2026, effective_from=date(2026, 6, 1))
    assert three_versions.v2026.pk in found(people.carol, QUESTION)


def test_a_newer_version_without_a_date_applies_from_the_day_it_was_added(ingest, people):
    old = ingest("old.md", policy(2020, 20))
    new = ingest("new.md", policy(2021, 22))
    Document.objects.filter(pk=new.pk).update(supersedes=old)
    today = timezone.localdate()
    assert found(people.carol, QUESTION, today=today) == {new.pk}
    assert found(people.carol, "How much paid annual leave did full-time employees get in 2024?", today=today) == {
        old.pk
    }
    assert (
        versions.describe(Document.objects.filter(pk=new.pk), today)[new.pk].label
        == f"In force since {format_day(today)}"
    )


def test_permissions_apply_per_version(ingest, people):
    """Bob may read only the 2025 version: he never gets the 2026 text, and 2025 is not offered as today's rule."""
    v2025 = ingest("leave-2025.md", policy(2025, 23), groups=[people.engineering])
    v2026 = ingest("leave-2026.md", policy(2026, 25), groups=[people.managers])
    Document.objects.filter(pk=v2025.pk).update(effective_from=date(2025, 1, 1))
    Document.objects.filter(pk=v2026.pk).update(supersedes=v2025, effective_from=date(2026, 1, 1))

    assert found(people.bob, QUESTION) == set()
    assert found(people.bob, "How many days of paid annual leave did full-time employees get in 2025?") == {v2025.pk}
    assert found(people.alice, QUESTION) == {v2026.pk}
    assert found(people.alice, "How many days of paid annual leave did full-time employees get in 2025?") == set()
    assert found(people.carol, "paid annual leave in 2025") == set(), "nobody else reads either"


def test_detected_dates_are_suggestions_until_confirmed(ingest, people):
    document = ingest("leave.md", "# Leave\n\nThis policy applies from 1 January 2026.\n\n25 days of annual leave.")
    assert (document.detected_effective_from, document.effective_from) == (date(2026, 1, 1), None)
    assert versions.confirm_detected(Document.objects.all()) == 1
    document.refresh_from_db()
    assert document.effective_from == date(2026, 1, 1)
    assert versions.confirm_detected(Document.objects.all()) == 0, "a date the administrator set is kept"


def test_a_loop_of_versions_is_refused(three_versions):
    assert versions.would_cycle(three_versions.v2025, three_versions.v2027)
    assert not versions.would_cycle(three_versions.v2027, three_versions.other)
    assert versions.chain_ids(three_versions.v2026) == leave_versions(three_versions)


MANIFEST = """
[[document]]
file = "archive/leave-2025.md"
effective_from = 2025-01-01
effective_until = 2025-12-31

[[document]]
file = "leave.md"
supersedes = "archive/leave-2025.md"
effective_from = 2026-01-01
"""


@pytest.fixture
def versioned_folder(tmp_path):
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "leave-2025.md").write_text(policy(2025, 23))
    (tmp_path / "leave.md").write_text(policy(2026, 25))
    (tmp_path / "versions.toml").write_text(MANIFEST)
    return tmp_path


@pytest.mark.django_db(transaction=True)
def test_a_folder_manifest_links_versions_and_sets_their_dates(versioned_folder, people):
    report = folder_ingest(root=versioned_folder)
    assert sorted(report.ready) == ["archive/leave-2025.md", "leave.md"], "the manifest is not a document"
    old = Document.objects.get(source_path="archive/leave-2025.md")
    new = Document.objects.get(source_path="leave.md")
    assert (new.supersedes_id, new.effective_from) == (old.pk, date(2026, 1, 1))
    assert (old.effective_from, old.effective_until) == (date(2025, 1, 1), date(2025, 12, 31))
    assert found(people.carol, QUESTION) == {new.pk}


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("[[document]\nfile=", "not valid TOML"),
        ('[[document]]\nfile = "missing.md"', "'missing.md' is not a file in the folder"),
        ('[[document]]\nfile = "../outside.md"', "is not a file in the folder"),
        ('[[document]]\nfile = "leave.md"\ncolour = "red"', "unknown key colour"),
        ('[[document]]\nfile = "leave.md"\neffective_from = "soon"', "must be a date like 2026-01-01"),
        ('[[document]]\nfile = "leave.md"\neffective_from = 2026-01-01T10:00:00', "must be a date"),
        (
            '[[document]]\nfile = "leave.md"\neffective_from = 2026-02-01\neffective_until = 2026-01-01',
            "effective_until is before effective_from",
        ),
        ('[[document]]\nfile = "leave.md"\nsupersedes = "leave.md"', "cannot supersede itself"),
        (
            '[[document]]\nfile = "leave.md"\nsupersedes = "archive/leave-2025.md"\n'
            '[[document]]\nfile = "archive/leave-2025.md"\nsupersedes = "leave.md"',
            "form a loop",
        ),
        ('[[document]]\nfile = "leave.md"\n[[document]]\nfile = "leave.md"', "names a file twice"),
        ('title = "x"', "holds only [[document]] tables"),
        ("[[document]]\nfile = 3", "needs file ="),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_a_bad_manifest_stops_the_import_before_anything_is_uploaded(versioned_folder, manifest, message):
    (versioned_folder.parent / "outside.md").write_text("a real file, outside the folder")
    (versioned_folder / "versions.toml").write_text(manifest)
    with pytest.raises(ManifestError, match=message.replace("[", r"\[").replace("(", r"\(")):
        folder_ingest(root=versioned_folder)
    assert not Document.objects.exists()
    with pytest.raises(CommandError, match="versions.toml"):
        call_command("ingest_folder", str(versioned_folder), verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_a_manifest_that_is_not_text_is_refused(versioned_folder):
    (versioned_folder / "versions.toml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ManifestError, match="not valid TOML"):
        folder_ingest(root=versioned_folder)
