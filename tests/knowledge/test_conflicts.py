"""Contradicting figures between documents in force together are found at ingestion and listed for admins."""

from datetime import date

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from knowledge.conflicts import conflicts_detect, differing, figures
from knowledge.demo import HANDBOOK_DIR
from knowledge.documents import document_fail, document_schedule_ingest
from knowledge.folders import folder_ingest
from knowledge.models import Conflict, Document

pytestmark = pytest.mark.django_db

LEAVE = (
    "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per calendar year. "
    "Book leave in PeopleHub."
)
BERLIN = (
    "# Berlin office\n\n## Holidays\n\nFull-time employees in the Berlin office receive 28 days of paid annual leave "
    "per calendar year. The office closes on 24 December."
)
SAME = "# Summary\n\n## Leave\n\nFull-time employees receive 25 days of paid annual leave per calendar year."
EXPENSES = "# Expenses\n\n## Hotels\n\nHotels cost at most 180 EUR a night in Paris and 28 days ahead is best."


def test_figures_are_amounts_with_a_unit():
    found = figures("You get 25 days, five weeks, 12.5% and €150 or 40 EUR; form 2025 and 3 people are not figures.")
    assert [(f.value, f.unit) for f in found] == [
        (25, "days"),
        (5, "weeks"),
        (12.5, "percent"),
        (150, "EUR"),
        (40, "EUR"),
    ]
    assert differing(figures("25 days of leave"), figures("28 days of leave")) == "25 days ≠ 28 days"
    assert differing(figures("25 days of leave"), figures("25 days of leave")) == ""
    assert differing(figures("25 days of leave"), figures("3 weeks of leave")) == "", (
        "different units say different things"
    )


def test_two_documents_in_force_with_different_figures_conflict(ingest):
    leave = ingest("leave.md", LEAVE)
    berlin = ingest("berlin.md", BERLIN)
    conflict = Conflict.objects.get()
    assert (conflict.document_id, conflict.other_document_id) == (leave.pk, berlin.pk)
    assert conflict.figures == "25 days ≠ 28 days"
    assert conflict.sentence.startswith("Full-time employees receive 25 days")
    assert "28 days" in conflict.other_sentence and conflict.similarity >= 0.65


def test_agreeing_or_unrelated_documents_do_not_conflict(ingest):
    ingest("leave.md", LEAVE)
    ingest("summary.md", SAME)
    ingest("expenses.md", EXPENSES)
    assert not Conflict.objects.exists()


def test_versions_of_one_policy_or_documents_never_in_force_together_do_not_conflict(ingest):
    old = ingest("leave.md", LEAVE)
    berlin = ingest("berlin.md", BERLIN)
    Document.objects.filter(pk=berlin.pk).update(supersedes=old)
    conflicts_detect(document_id=berlin.pk)
    assert not Conflict.objects.exists(), "a newer version differs from the old one by design"

    Document.objects.filter(pk=berlin.pk).update(supersedes=None, effective_from=date(2027, 1, 1))
    Document.objects.filter(pk=old.pk).update(effective_until=date(2026, 12, 31))
    conflicts_detect(document_id=berlin.pk)
    assert not Conflict.objects.exists(), "one ends before the other starts"


def test_a_dismissed_conflict_stays_dismissed_when_its_documents_are_ingested_again(
    ingest, django_capture_on_commit_callbacks
):
    leave = ingest("leave.md", LEAVE)
    ingest("berlin.md", BERLIN)
    Conflict.objects.update(dismissed_at="2026-11-01T00:00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        document_schedule_ingest(document_id=leave.pk, force=True)
    conflict = Conflict.objects.get()
    assert conflict.dismissed_at is not None
    assert conflict.chunk_id == leave.chunks.get().pk, "it points at the new chunk"


def test_a_document_that_fails_takes_its_conflicts_with_it(ingest):
    leave = ingest("leave.md", LEAVE)
    ingest("berlin.md", BERLIN)
    assert Conflict.objects.count() == 1
    document_fail(document_id=leave.pk, reason="The file is damaged.")
    assert not Conflict.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_demo_handbook_has_no_false_conflicts():
    """Its versions differ on purpose and its policies agree: a conflict here would be noise."""
    report = folder_ingest(root=HANDBOOK_DIR)
    assert not report.failed
    assert list(Conflict.objects.values_list("figures", "sentence", "other_sentence")) == []


def test_admin_lists_conflicts_between_documents_the_staff_member_may_read(client, ingest, people):
    leave = ingest("leave.md", LEAVE)
    ingest("berlin.md", BERLIN, groups=[people.managers])
    assert Conflict.objects.filter(document=leave).count() == 1
    staff = User.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_conflict", "change_document", "view_document"])
    )
    client.force_login(staff)
    listing = client.get(reverse("admin:knowledge_conflict_changelist"))
    assert listing.status_code == 200 and "25 days ≠ 28 days" not in listing.content.decode(), "Berlin is managers-only"

    staff.groups.add(people.managers)
    listing = client.get(reverse("admin:knowledge_conflict_changelist")).content.decode()
    assert "25 days ≠ 28 days" in listing
    conflict = Conflict.objects.get()
    response = client.post(
        reverse("admin:knowledge_conflict_changelist"),
        {"action": "dismiss", "_selected_action": [conflict.pk]},
    )
    assert response.status_code == 302
    conflict.refresh_from_db()
    assert conflict.dismissed_at is not None and conflict.dismissed_by == staff


BALANCES = (
    "username,as_of,annual_leave_entitlement,annual_leave_taken,annual_leave_remaining\n"
    "alice,2026-11-01,25 days,12 days,13 days\n"
    "bob,2026-11-01,27 days,25 days,2 days\n"
)


@pytest.mark.django_db(transaction=True)
def test_personal_records_never_take_part_in_conflicts(people, ingest, django_capture_on_commit_callbacks):
    from knowledge.records import records_import

    with django_capture_on_commit_callbacks(execute=True):
        records_import(BALANCES.encode(), kind="Leave balance")
    # A public look-alike of alice's record, as someone probing her figures would write it.
    probe = ingest(
        "probe.md",
        "# Leave balance: alice\n\n## Leave balance\n\nAnnual leave remaining: 9 days. Annual leave taken: 16 days.",
    )
    records = Document.objects.filter(source_path__startswith="records/")
    assert records.count() == 2 and all(r.status == Document.Status.READY for r in records)
    for record in records:
        assert conflicts_detect(document_id=record.pk) == 0
    assert conflicts_detect(document_id=probe.pk) == 0
    assert not Conflict.objects.exists()


def test_a_conflict_flag_counts_only_counterparts_the_asker_may_read(ingest, people):
    from knowledge import retrieval

    leave = ingest("leave.md", LEAVE)
    ingest("berlin.md", BERLIN, groups=[people.managers])
    assert Conflict.objects.count() == 1
    question = "How many days of paid annual leave do full-time employees receive?"
    bob_sees = {p.document_id: p for p in retrieval.search(people.bob, question, k=5)}
    alice_sees = {p.document_id: p for p in retrieval.search(people.alice, question, k=5)}
    assert leave.pk in bob_sees and not bob_sees[leave.pk].in_conflict, "bob may not read the Berlin document"
    assert alice_sees[leave.pk].in_conflict
