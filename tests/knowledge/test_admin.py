from datetime import date

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from knowledge.models import Document


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", password="pw-root-123"))
    return client


def upload(client, name: str, data: bytes, **fields):
    form = {"title": "", "visibility": "everyone", "file": SimpleUploadedFile(name, data), **fields}
    return client.post(reverse("admin:knowledge_document_add"), form)


def test_admin_upload_is_ingested_and_listed_with_status_and_chunks(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(admin_client, "remote-work.md", b"# Remote\n\nWork from abroad up to 20 days a year.")
    assert response.status_code == 302, response.content[:500]
    assert len(callbacks) == 2, "ingestion is queued after commit, and the conflict check after its own"
    document = Document.objects.get()
    assert document.status == Document.Status.READY and document.title == "Remote work"
    listing = admin_client.get(reverse("admin:knowledge_document_changelist")).content.decode()
    assert "ready" in listing and "Remote work" in listing


def test_admin_upload_of_a_bad_file_shows_failed_with_reason(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload(admin_client, "setup.exe", b"MZ\x90\x00binary")
    document = Document.objects.get()
    assert document.status == Document.Status.FAILED
    listing = admin_client.get(reverse("admin:knowledge_document_changelist")).content.decode()
    assert "Unsupported file type (.exe)" in listing


def test_oversized_upload_is_refused_with_a_sentence(admin_client, settings):
    settings.MAX_UPLOAD_BYTES = 100
    response = upload(admin_client, "big.txt", b"x" * 101)
    assert response.status_code == 200
    assert "the limit is 100" in response.content.decode()
    assert not Document.objects.exists()


def test_identical_file_is_refused_as_a_new_document(admin_client, ingest):
    ingest("leave.md", "# Leave\n\n25 days.")
    response = upload(admin_client, "copy-of-leave.md", b"# Leave\n\n25 days.")
    assert "identical to the document" in response.content.decode()
    assert Document.objects.count() == 1


def test_a_duplicate_the_uploader_may_not_read_is_neither_named_nor_hinted(
    client, ingest, people, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Permission

    secret = b"# Managers' guide\n\nBand C3 pays 46,000 to 58,000 EUR."
    ingest("managers.md", secret, groups=[people.managers], title="Managers' Guide")
    staff = User.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["add_document", "view_document"]))
    client.force_login(staff)

    def attempt(data: bytes, name: str):
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(client, name, data)
        return response.status_code, response.content.decode()

    guessed = attempt(secret, "guess.md")
    fresh = attempt(b"# Something new\n\nNothing like it exists.", "fresh.md")
    assert guessed[0] == fresh[0] == 302, "an unreadable identical document changes nothing the uploader sees"
    assert "identical" not in guessed[1] and "Managers" not in guessed[1]
    listing = client.get(reverse("admin:knowledge_document_changelist")).content.decode()
    assert "Managers&#x27; Guide" not in listing and "Managers' Guide" not in listing
    assert Document.objects.filter(checksum=Document.objects.get(title="Guess").checksum).count() == 2


def test_group_visibility_needs_a_group(admin_client):
    response = upload(admin_client, "pay.md", b"# Pay", visibility="groups")
    assert "Choose at least one group" in response.content.decode()
    assert not Document.objects.exists()


def test_reingest_action_queues_selected_documents(admin_client, ingest, django_capture_on_commit_callbacks):
    document = ingest("leave.md", "# Leave\n\n25 days.")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        admin_client.post(
            reverse("admin:knowledge_document_changelist"),
            {"action": "reingest", "_selected_action": [document.pk]},
        )
    assert len(callbacks) == 2, "ingestion, then its conflict check"
    document.refresh_from_db()
    assert document.status == Document.Status.READY and document.chunks.count() == 1


def test_upload_form_names_the_formats_and_the_limit(admin_client):
    page = admin_client.get(reverse("admin:knowledge_document_add")).content.decode()
    assert "Word (.docx)" in page and "at most 20.0" in page


def test_employees_cannot_open_the_admin(client, people):
    client.force_login(people.bob)
    assert client.get(reverse("admin:knowledge_document_changelist")).status_code == 302


def change(client, document: Document, **fields):
    form = {"title": document.title, "visibility": document.visibility, **fields}
    return client.post(reverse("admin:knowledge_document_change", args=[document.pk]), form)


def test_a_document_is_made_a_newer_version_with_its_dates_in_the_admin(
    admin_client, ingest, django_capture_on_commit_callbacks
):
    old = ingest("leave-2025.md", "# Leave\n\n23 days of annual leave.")
    new = ingest("leave-2026.md", "# Leave\n\nIt applies from 1 January 2026.\n\n25 days of annual leave.")
    page = admin_client.get(reverse("admin:knowledge_document_change", args=[new.pk])).content.decode()
    assert "The text says 1 January 2026" in page, "the detected date is offered"

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = change(admin_client, new, supersedes=old.pk, effective_from="2026-01-01")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert len(callbacks) == 1, "conflicts are looked for again"
    new.refresh_from_db()
    assert (new.supersedes_id, new.effective_from) == (old.pk, date(2026, 1, 1))
    listing = admin_client.get(reverse("admin:knowledge_document_changelist")).content.decode()
    assert "Superseded on 1 January 2026" in listing and "In force since 1 January 2026" in listing


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"effective_from": "2026-02-01", "effective_until": "2026-01-01"}, "cannot be before the first"),
        ({"effective_from": "1st of Jan"}, "Enter a valid date"),
        ({"supersedes": "999999"}, "Select a valid choice"),
    ],
)
def test_bad_version_fields_are_refused_with_a_reason(admin_client, ingest, fields, error):
    document = ingest("leave.md", "# Leave\n\n25 days.")
    response = change(admin_client, document, **fields)
    assert response.status_code == 200 and error in response.content.decode()
    document.refresh_from_db()
    assert (document.effective_from, document.supersedes_id) == (None, None), "nothing was saved"


def test_a_loop_of_versions_is_refused_in_the_admin(admin_client, ingest):
    old = ingest("old.md", "# Old\n\n20 days.")
    new = ingest("new.md", "# New\n\n25 days.")
    Document.objects.filter(pk=new.pk).update(supersedes=old)
    response = change(admin_client, old, supersedes=new.pk)
    assert "That document is this one or a newer version of it." in response.content.decode()
    assert change(admin_client, old, supersedes=old.pk).status_code == 200, "nor can it supersede itself"


def test_staff_cannot_link_a_version_they_may_not_read(client, ingest, people):
    from django.contrib.auth.models import Permission

    hidden = ingest("pay.md", "# Pay\n\nSecret.", groups=[people.managers])
    mine = ingest("leave.md", "# Leave\n\n25 days.")
    staff = User.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_document", "change_document"]))
    client.force_login(staff)
    page = client.get(reverse("admin:knowledge_document_change", args=[mine.pk])).content.decode()
    assert "Pay" not in page
    response = change(client, mine, supersedes=hidden.pk)
    assert "Select a valid choice" in response.content.decode()


def test_confirm_action_makes_detected_dates_effective(admin_client, ingest):
    dated = ingest("leave.md", "# Leave\n\nThis edition was effective from 1 January 2025 until 31 December 2025.")
    undated = ingest("trains.md", "# Trains\n\nTake the train.")
    response = admin_client.post(
        reverse("admin:knowledge_document_changelist"),
        {"action": "confirm_detected_dates", "_selected_action": [dated.pk, undated.pk]},
        follow=True,
    )
    assert "Confirmed the dates found in 1 document(s); 1 had dates already or none were found." in (
        response.content.decode()
    )
    dated.refresh_from_db()
    assert (dated.effective_from, dated.effective_until) == (date(2025, 1, 1), date(2025, 12, 31))


def test_the_list_shows_the_newest_upload_first_and_names_who_may_read_each_document(admin_client, ingest, people):
    ingest("aardvark.md", "# Aardvark\n\nEveryone may read this.", title="Aardvark policy")
    managers_only = ingest("zebra.md", "# Zebra\n\nOnly managers.", groups=[people.managers], title="Zebra policy")
    managers_only.readers.add(people.carol)
    listing = admin_client.get(reverse("admin:knowledge_document_changelist")).content.decode()
    assert listing.index("Zebra policy") < listing.index("Aardvark policy"), "newest first, not by title"
    assert "group managers, carol" in listing
    assert "Everyone" in listing


def test_a_damaged_office_file_fails_with_a_reason_in_words(admin_client, django_capture_on_commit_callbacks):
    import io
    import zipfile

    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:  # a Word file whose XML is cut off (lxml: XMLSyntaxError)
        archive.writestr("[Content_Types].xml", "<Types><Default Extension=")
        archive.writestr("word/document.xml", "<w:document>")
    with django_capture_on_commit_callbacks(execute=True):
        upload(admin_client, "broken.docx", broken.getvalue())
    document = Document.objects.get()
    assert document.status == Document.Status.FAILED
    listing = admin_client.get(reverse("admin:knowledge_document_changelist")).content.decode()
    assert "cannot be read" in listing and "Error" not in document.error and "(" not in document.error, document.error
