import re
from pathlib import Path

import pytest
from django.urls import reverse

from chat.models import Citation, Conversation, Message
from tests.pages import citations_on


@pytest.fixture
def answered(people, ingest):
    """Alice asked about pay and got an answer citing the managers-only document."""
    pay = ingest("pay.md", "# Pay\n\n## Salary bands\n\nGrade C3 earns 46,000 to 58,000 EUR.", groups=[people.managers])
    chunk = pay.chunks.get()
    conversation = Conversation.objects.create(user=people.alice, title="Pay for C3")
    message = Message.objects.create(
        conversation=conversation, question="What does C3 earn?", answer="46,000 to 58,000 EUR [1].", status="complete"
    )
    Citation.objects.create(
        message=message, marker=1, chunk=chunk, document=pay, document_title=pay.title,
        heading_path=chunk.heading_path, quote=chunk.text,
    )  # fmt: skip
    return conversation


def test_chat_page_requires_login(client):
    response = client.get(reverse("chat:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_user_sees_own_conversations_with_citations(client, people, answered):
    client.force_login(people.alice)
    page = client.get(reverse("chat:index")).content.decode()
    assert "Pay for C3" in page
    page = client.get(reverse("chat:conversation", args=[answered.pk])).content.decode()
    assert "Grade C3 earns 46,000 to 58,000 EUR." in page and "Salary bands" in page
    assert "/documents/" in page and "#chunk-" in page


def test_past_answers_keep_their_support_check_highlights_and_searched_question(client, people, answered):
    message = answered.messages.get()
    message.standalone_question = "What does grade C3 earn per year?"
    message.support = [{"start": 0, "end": 25, "markers": [1], "verdict": "supported", "similarity": 0.8,
                        "unsupported_numbers": []}]  # fmt: skip
    message.save()
    message.citations.update(highlights=[[0, 8]])
    client.force_login(people.alice)
    page = client.get(reverse("chat:conversation", args=[answered.pk])).content.decode()
    assert 'data-searched="What does grade C3 earn per year?"' in page
    assert "&quot;verdict&quot;: &quot;supported&quot;" in page
    assert [c["highlights"] for c in citations_on(page)[0]] == [[[0, 8]]]


def test_pages_forbid_scripts_that_are_not_our_own_files(client, people):
    client.force_login(people.bob)
    policy = client.get(reverse("chat:index"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_other_users_conversation_is_not_found_and_not_listed(client, people, answered):
    client.force_login(people.bob)
    assert client.get(reverse("chat:conversation", args=[answered.pk])).status_code == 404
    assert "Pay for C3" not in client.get(reverse("chat:index")).content.decode()


def test_citation_text_disappears_when_the_reader_loses_access(client, people, answered):
    people.alice.groups.remove(people.managers)
    client.force_login(people.alice)
    page = client.get(reverse("chat:conversation", args=[answered.pk])).content.decode()
    assert "Grade C3 earns" not in page
    assert "Source no longer available" in page
    assert "#chunk-" not in page, "no link to a document the reader lost"


def test_citation_of_a_deleted_document_says_so_and_keeps_the_answer(client, people, answered):
    from knowledge.documents import document_delete
    from knowledge.models import Document

    document_delete(document_id=Document.objects.get().pk)
    client.force_login(people.alice)
    page = client.get(reverse("chat:conversation", args=[answered.pk])).content.decode()
    assert "Source removed" in page and "46,000 to 58,000 EUR [1]." in page
    assert "Grade C3 earns" not in page


def test_html_in_questions_and_answers_is_escaped(client, people):
    conversation = Conversation.objects.create(user=people.bob, title="<script>alert(1)</script>")
    Message.objects.create(conversation=conversation, question="<img src=x onerror=alert(1)>", answer="<b>hi</b>")
    client.force_login(people.bob)
    page = client.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "onsubmit=" not in page and "onclick=" not in page, "no inline handlers: the policy would block them"


def test_owner_can_rename_and_delete_a_conversation_others_get_404(client, people, answered):
    client.force_login(people.bob)
    assert client.post(reverse("chat:rename", args=[answered.pk]), {"title": "Mine now"}).status_code == 404
    assert client.post(reverse("chat:delete", args=[answered.pk])).status_code == 404
    client.force_login(people.alice)
    client.post(reverse("chat:rename", args=[answered.pk]), {"title": "  Pay   questions "})
    answered.refresh_from_db()
    assert answered.title == "Pay questions"
    response = client.post(reverse("chat:rename", args=[answered.pk]), {"title": "   "}, follow=True)
    assert "The title is empty." in response.content.decode()
    response = client.post(reverse("chat:rename", args=[answered.pk]), {"title": "Pay\x00"}, follow=True)
    assert "NUL character" in response.content.decode()
    assert client.get(reverse("chat:rename", args=[answered.pk])).status_code == 405
    client.post(reverse("chat:delete", args=[answered.pk]))
    assert not Conversation.objects.filter(pk=answered.pk).exists()
    assert not Message.objects.filter(conversation_id=answered.pk).exists()


def test_feedback_is_stored_for_the_askers_own_messages_only(client, people, answered):
    message = Message.objects.get(conversation=answered)
    url = reverse("chat:feedback", args=[message.pk])
    client.force_login(people.bob)
    assert client.post(url, {"rating": "up"}).status_code == 404
    client.force_login(people.alice)
    assert client.post(url, {"rating": "sideways"}).status_code == 400
    assert client.post(url, {"rating": "down", "comment": "x" * 2001}).status_code == 400
    nul = client.post(url, {"rating": "down", "comment": "bad\x00"})
    assert nul.status_code == 400 and "NUL" in nul.json()["error"]
    assert client.post(url, {"rating": "down", "comment": " Wrong band "}).json() == {"ok": True}
    message.refresh_from_db()
    assert (message.feedback, message.feedback_comment) == ("down", "Wrong band") and message.feedback_at
    page = client.get(reverse("chat:conversation", args=[answered.pk])).content.decode()
    assert 'data-feedback="down"' in page


def test_changes_need_the_csrf_token(people, answered):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(people.alice)
    assert strict.post(reverse("chat:delete", args=[answered.pk])).status_code == 403
    assert Conversation.objects.filter(pk=answered.pk).exists()


def test_export_is_markdown_with_sources_and_follows_current_rights(client, people, answered):
    client.force_login(people.alice)
    response = client.get(reverse("chat:export", args=[answered.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    assert f'filename="conversation-{answered.pk}.md"' in response["Content-Disposition"]
    text = response.content.decode()
    assert text.startswith("# Pay for C3\n")
    assert "## What does C3 earn?\n\n46,000 to 58,000 EUR [1]." in text
    assert "- [1] Pay > Salary bands: “Grade C3 earns 46,000 to 58,000 EUR.”" in text

    people.alice.groups.remove(people.managers)
    text = client.get(reverse("chat:export", args=[answered.pk])).content.decode()
    assert "- [1] Source no longer available" in text and "Grade C3 earns" not in text


def without_csrf_token(page: bytes) -> bytes:
    """The page's logout form carries a CSRF token masked afresh for every response."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", page)


def test_guessed_ids_of_other_peoples_objects_look_exactly_like_missing_ones(client, people, answered):
    """Enumeration: bob learns nothing from alice's ids; every route answers as for an id that never existed."""
    from knowledge.models import Document

    message = answered.messages.get()
    document = Document.objects.get()
    missing = 10_000_000
    routes = [
        ("get", "chat:conversation", answered.pk, {}),
        ("get", "chat:export", answered.pk, {}),
        ("post", "chat:rename", answered.pk, {"title": "mine now"}),
        ("post", "chat:delete", answered.pk, {}),
        ("post", "chat:feedback", message.pk, {"rating": "down"}),
        ("get", "document", document.pk, {}),
    ]
    client.force_login(people.bob)
    for method, name, pk, data in routes:
        theirs = getattr(client, method)(reverse(name, args=[pk]), data)
        absent = getattr(client, method)(reverse(name, args=[missing]), data)
        assert theirs.status_code == absent.status_code == 404, name
        assert without_csrf_token(theirs.content) == without_csrf_token(absent.content), name
    answered.refresh_from_db()
    message.refresh_from_db()
    assert answered.title == "Pay for C3" and message.feedback == ""


def test_rename_answers_the_pages_script_in_json_and_confirms_each_change(client, people, answered):
    client.force_login(people.alice)
    as_script = {"HTTP_ACCEPT": "application/json"}
    url = reverse("chat:rename", args=[answered.pk])
    assert client.post(url, {"title": "  Pay   bands "}, **as_script).json() == {"title": "Pay bands"}
    refused = client.post(url, {"title": " "}, **as_script)
    assert refused.status_code == 400 and refused.json() == {"error": "The title is empty."}
    assert client.post(url, {"title": "x" * 201}, **as_script).status_code == 400
    assert Conversation.objects.get(pk=answered.pk).title == "Pay bands", "a refused title changes nothing"
    client.force_login(people.bob)
    assert client.post(url, {"title": "Mine"}, **as_script).status_code == 404

    client.force_login(people.alice)
    page = client.post(url, {"title": "Pay grades"}, follow=True).content.decode()
    assert "Conversation renamed." in page, "without script: the page says it was done"
    page = client.post(reverse("chat:delete", args=[answered.pk]), follow=True).content.decode()
    assert "Deleted “Pay grades”." in page


def test_the_page_needs_no_dialogs_and_marks_unsupported_or_unsourced_answers_in_the_export(client, people, answered):
    script = (Path(__file__).parents[2] / "chat" / "static" / "chat" / "chat.js").read_text()
    assert not re.search(r"\b(prompt|confirm|alert)\(", script), "rename, delete and feedback happen in the page"

    message = answered.messages.get()
    message.support = [{"start": 0, "end": 25, "markers": [1], "verdict": "unsupported", "similarity": 0.2,
                        "unsupported_numbers": ["58,000"]}]  # fmt: skip
    message.version_note = "Pay: in force since 1 January 2026."
    message.save()
    unsourced = Message.objects.create(
        conversation=answered, question="Who won in 1998?", answer="The documents do not say.", status="complete"
    )
    client.force_login(people.alice)
    text = client.get(reverse("chat:export", args=[answered.pk])).content.decode()
    warning = "> Check before relying on this: 1 sentence is not backed by a cited passage: “46,000 to 58,000 EUR [1].”"
    assert warning in text
    assert f"## {unsourced.question}\n\n> No source: this answer cites no passage of your documents." in text
    page = client.get(reverse("chat:conversation", args=[answered.pk])).content.decode()
    assert 'data-version-note="Pay: in force since 1 January 2026."' in page


def test_an_empty_conversation_suggests_questions_from_documents_the_asker_may_read(client, people, ingest):
    ingest("leave.md", "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid leave. " * 3)
    ingest("pay.md", "# Pay\n\n## Salary bands\n\nGrade C3 earns 46,000 to 58,000 EUR.", groups=[people.managers])
    client.force_login(people.bob)
    page = client.get(reverse("chat:index")).content.decode()
    assert "What does “Leave” say about annual leave?" in page
    assert "Salary bands" not in page and "salary bands" not in page, "nothing of a document bob may not read"
    client.force_login(people.alice)
    assert "What does “Pay” say about salary bands?" in client.get(reverse("chat:index")).content.decode()
