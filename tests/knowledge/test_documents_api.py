"""Documents by API: staff tokens upload, follow, replace and delete documents with the admin's checks."""

import json

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient

from knowledge.models import Document
from knowledge.tokens import token_create

pytestmark = pytest.mark.django_db(transaction=True)
LEAVE = b"# Leave\n\n## Entitlement\n\nFull-time employees receive 25 days of paid annual leave per calendar year."


@pytest.fixture
def editor(people):
    hr = User.objects.create_user("hana", password="pw-hana-123", is_staff=True)
    hr.user_permissions.set(Permission.objects.filter(codename__endswith="_document"))
    hr.groups.add(people.managers)
    return hr


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def upload(client, token, name="leave.md", content=LEAVE, **fields):
    return client.post("/api/documents", {"file": SimpleUploadedFile(name, content), **fields}, headers=auth(token))


def ask(token: str, question: str) -> dict:
    async def call():
        response = await AsyncClient().post(
            "/api/ask", data=json.dumps({"question": question}), content_type="application/json", headers=auth(token)
        )
        return response.json()

    return async_to_sync(call)()


def test_an_upload_by_api_becomes_ready_and_answerable_then_is_replaced_and_deleted(client, people, editor):
    token = token_create(user=editor, scopes=["documents"])
    created = upload(client, token, title="Leave and Holidays")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "ready" and body["title"] == "Leave and Holidays" and body["chunks_total"] == 1
    answer = ask(token_create(user=people.bob), "How many days of annual leave do full-time employees get?")
    assert "25 days" in answer["answer"] and answer["citations"][0]["document_id"] == body["id"]

    status = client.get(f"/api/documents/{body['id']}", headers=auth(token)).json()
    assert status["status"] == "ready" and status["url"] == f"/documents/{body['id']}/"

    new = b"# Leave\n\n## Entitlement\n\nFull-time employees receive 28 days of paid annual leave per calendar year."
    boundary = "BoUnDaRy"
    payload = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="leave.md"\r\n'
            "Content-Type: text/markdown\r\n\r\n"
        ).encode()
        + new
        + f"\r\n--{boundary}--\r\n".encode()
    )
    replaced = client.put(
        f"/api/documents/{body['id']}", payload, content_type=f"multipart/form-data; boundary={boundary}",
        headers=auth(token),
    )  # fmt: skip
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["title"] == "Leave and Holidays" and replaced.json()["visibility"] == "everyone"
    assert "28 days" in ask(token_create(user=people.bob), "How many days of annual leave do I get?")["answer"]

    assert client.delete(f"/api/documents/{body['id']}", headers=auth(token)).status_code == 204
    assert not Document.objects.exists()
    assert client.get(f"/api/documents/{body['id']}", headers=auth(token)).status_code == 404


def test_a_restricted_upload_names_its_groups_and_stays_with_them(client, people, editor):
    token = token_create(user=editor, scopes=["documents"])
    refused = upload(
        client, token, name="guide.md", content=b"# Guide\n\nGrade C3 earns 50,000 EUR.", visibility="groups"
    )
    assert refused.status_code == 400 and "at least one group or person" in refused.json()["error"]
    made = upload(
        client, token, name="guide.md", content=b"# Guide\n\nGrade C3 earns 50,000 EUR.", visibility="groups",
        groups="managers",
    )  # fmt: skip
    assert made.status_code == 201 and made.json()["groups"] == ["managers"]
    assert "50,000" not in json.dumps(ask(token_create(user=people.bob), "How much does grade C3 earn?"))


def test_who_may_use_it_and_bad_uploads_are_refused_in_words(client, people, editor, settings):
    staff_token = token_create(user=editor, scopes=["documents"])
    cases = [
        (client.post("/api/documents", {}), 401, "token_required"),
        (upload(client, token_create(user=editor, scopes=["ask"])), 403, "scope_missing"),
        (upload(client, token_create(user=people.bob, scopes=["documents"])), 403, "not_allowed"),
        (client.post("/api/documents", "x", content_type="text/plain", headers=auth(staff_token)), 415,
         "multipart_required"),
        (client.post("/api/documents", {"title": "no file"}, headers=auth(staff_token)), 400, "file_required"),
        (upload(client, staff_token, owner="bob"), 400, "unknown_field"),
        (upload(client, staff_token, visibility="groups", groups="nobody"), 400, "unknown_name"),
        (upload(client, staff_token, effective_from="2026-05-01", effective_until="2026-01-01"), 400,
         "invalid_document"),
        (upload(client, staff_token, effective_from="yesterday"), 400, "invalid_document"),
    ]  # fmt: skip
    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert not Document.objects.exists(), "no refused upload left a document"

    settings.MAX_UPLOAD_BYTES = 100
    huge = upload(client, staff_token, content=b"x" * 101)
    assert huge.status_code == 400 and "the limit is" in huge.json()["error"]
    settings.MAX_UPLOAD_BYTES = 10_000_000
    assert upload(client, staff_token).status_code == 201
    twin = upload(client, staff_token, name="copy.md")
    assert twin.status_code == 400 and "identical to the document" in twin.json()["error"]
    broken = upload(client, staff_token, name="scan.pdf", content=b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    assert broken.status_code == 201 and broken.json()["status"] == "failed" and "damaged" in broken.json()["error"]


def test_a_document_the_token_s_owner_may_not_read_is_not_there(client, people, editor, ingest):
    private = ingest("pay.md", "# Pay\n\nSalaries are secret.", groups=[people.engineering])
    token = token_create(user=editor, scopes=["documents"])
    for method in (client.get, client.delete):
        response = method(f"/api/documents/{private.pk}", headers=auth(token))
        assert response.status_code == 404 and response.json()["code"] == "document_not_found"
    assert Document.objects.filter(pk=private.pk).exists()
