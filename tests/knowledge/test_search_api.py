import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from knowledge.tokens import token_create

PAY = "# Pay\n\n## Salary bands\n\nGrade C3 earns 46,000 to 58,000 EUR."
LEAVE = "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave."


@pytest.fixture
def corpus(people, ingest):
    return {"pay": ingest("pay.md", PAY, groups=[people.managers]), "leave": ingest("leave.md", LEAVE)}


def test_session_user_gets_ranked_passages_with_stages(client, people, corpus):
    client.force_login(people.alice)
    body = client.get("/api/search", {"q": "salary band C3", "k": 5}).json()
    first = body["results"][0]
    assert first["document_id"] == corpus["pay"].pk and first["heading_path"] == "Pay > Salary bands"
    assert set(first) >= {"text", "document_title", "page", "score", "similarity", "stages"}
    assert "lexical" in first["stages"]


def test_user_without_rights_sees_nothing_of_the_restricted_document(client, people, corpus):
    client.force_login(people.bob)
    body = client.get("/api/search", {"q": "salary band C3 46,000", "k": 100}).json()
    assert body["results"], "the open document is still returned"
    assert all(r["document_id"] != corpus["pay"].pk for r in body["results"])
    assert "46,000" not in str(body["results"])


def test_bearer_token_authenticates_as_its_user_only(client, people, corpus):
    key = token_create(user=people.bob)
    response = client.get("/api/search", {"q": "annual leave"}, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200 and response.json()["results"][0]["document_id"] == corpus["leave"].pk
    bad = client.get("/api/search", {"q": "annual leave"}, HTTP_AUTHORIZATION="Bearer rag_guessed")
    assert bad.status_code == 401
    people.bob.is_active = False
    people.bob.save()
    assert client.get("/api/search", {"q": "leave"}, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Give a query"),
        ({"q": "   "}, "Give a query"),
        ({"q": "leave", "k": "ten"}, "whole number"),
        ({"q": "leave", "k": "0"}, "at least 1"),
        ({"q": "x" * 5000}, "too long"),
        ({"q": "annual\x00leave"}, "NUL character"),
    ],
)
def test_bad_queries_get_400_with_a_sentence(client, people, params, message):
    client.force_login(people.bob)
    response = client.get("/api/search", params)
    assert response.status_code == 400 and message in response.json()["error"]


def test_anonymous_gets_401_and_k_is_capped_at_100(client, people, ingest):
    assert client.get("/api/search", {"q": "leave"}).status_code == 401
    ingest("many.md", "\n\n".join(f"# Rule {i}\n\nLeave rule number {i}." for i in range(120)))
    client.force_login(people.bob)
    body = client.get("/api/search", {"q": "leave rule", "k": 500}).json()
    assert body["k"] == 100 and len(body["results"]) == 100


def test_post_is_not_allowed(client, people):
    client.force_login(people.bob)
    assert client.post("/api/search", {"q": "x"}).status_code == 405


def test_search_page_shows_passages_for_the_user_only(client, people, corpus):
    client.force_login(people.bob)
    page = client.get(reverse("search"), {"q": "salary band C3"}).content.decode()
    assert "46,000" not in page
    client.force_login(people.alice)
    page = client.get(reverse("search"), {"q": "salary band C3"}).content.decode()
    assert "Grade C3 earns 46,000 to 58,000 EUR." in page and "matches your words" in page
    assert f'href="{reverse("document", args=[corpus["pay"].pk])}#chunk-' in page, "the title opens the passage"
    assert client.get(reverse("search"), {"q": "x", "k": "bad"}).content.decode().count("whole number") == 1
    nul = client.get(reverse("search"), {"q": "leave\x00"})
    assert nul.status_code == 200 and "NUL character" in nul.content.decode()


def test_create_api_token_command(people):
    out = io.StringIO()
    call_command("create_api_token", "bob", stdout=out)
    assert out.getvalue().startswith("rag_")
    with pytest.raises(CommandError, match="No active user"):
        call_command("create_api_token", "nobody")


def test_document_view_shows_passages_with_anchors_only_to_readers(client, people, corpus):
    pay = corpus["pay"]
    chunk = pay.chunks.get()
    client.force_login(people.alice)
    page = client.get(reverse("document", args=[pay.pk])).content.decode()
    assert f'id="chunk-{chunk.pk}"' in page and "Grade C3 earns 46,000" in page
    client.force_login(people.bob)
    response = client.get(reverse("document", args=[pay.pk]))
    assert response.status_code == 404 and "46,000" not in response.content.decode()
    assert client.get(reverse("document", args=[999999])).status_code == 404
    client.logout()
    assert client.get(reverse("document", args=[pay.pk])).status_code == 302


def test_search_page_shows_no_matches_below_the_relevance_floor(client, people, corpus):
    client.force_login(people.alice)
    api = client.get("/api/search", {"q": "zqxv blorft wibble", "k": 10}).json()["results"]
    assert api, "the ranking itself returns its nearest passages"
    page = client.get(reverse("search"), {"q": "zqxv blorft wibble"}).content.decode()
    assert "No passages match “zqxv blorft wibble” closely enough" in page
    assert "46,000" not in page and "25 days" not in page
    hostile = client.get(reverse("search"), {"q": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)" not in hostile


def test_a_person_makes_lists_and_revokes_their_own_tokens(client, people):
    from django.urls import reverse

    from knowledge.models import ApiToken

    client.force_login(people.bob)
    page = client.post(reverse("tokens"), {"name": "Slack bot", "scopes": ["ask"], "days": "30"})
    key = page.context["new_key"]
    assert key.startswith("rag_") and "shown only once" in page.content.decode()
    token = ApiToken.objects.get(user=people.bob)
    assert token.scopes == ["ask"] and token.expires_at is not None and key not in str(token.__dict__)
    listed = client.get(reverse("tokens")).content.decode()
    assert "Slack bot" in listed and key not in listed, "the key is never shown again"
    refused = [
        client.post(reverse("tokens"), {"name": "", "scopes": ["ask"]}),
        client.post(reverse("tokens"), {"name": "x", "scopes": ["documents"]}),  # bob is not staff
        client.post(reverse("tokens"), {"name": "x", "scopes": ["admin"]}),
        client.post(reverse("tokens"), {"name": "x", "scopes": ["ask"], "days": "-3"}),
        client.post(reverse("tokens"), {"name": "x\x00", "scopes": ["ask"]}),
    ]
    assert [r.status_code for r in refused] == [400] * 5 and ApiToken.objects.count() == 1
    confirm = client.get(reverse("tokens"), {"revoke": token.pk}).content.decode()
    assert "Revoke “Slack bot”?" in confirm and ApiToken.objects.count() == 1, "asks first"
    alice_token = ApiToken.objects.get(pk=ApiToken.objects.create(user=people.alice, key_hash="h" * 64).pk)
    client.post(reverse("tokens"), {"revoke": alice_token.pk})
    assert ApiToken.objects.filter(pk=alice_token.pk).exists(), "another person's token is not revoked here"
    client.post(reverse("tokens"), {"revoke": token.pk})
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    response = client.get("/api/search?q=leave", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401, "a revoked token stops at once"
