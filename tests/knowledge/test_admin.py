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
    assert len(callbacks) == 1, "ingestion is queued after commit"
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
    assert len(callbacks) == 1
    document.refresh_from_db()
    assert document.status == Document.Status.READY and document.chunks.count() == 1


def test_upload_form_names_the_formats_and_the_limit(admin_client):
    page = admin_client.get(reverse("admin:knowledge_document_add")).content.decode()
    assert "Word (.docx)" in page and "at most 20.0" in page


def test_employees_cannot_open_the_admin(client, people):
    client.force_login(people.bob)
    assert client.get(reverse("admin:knowledge_document_changelist")).status_code == 302
