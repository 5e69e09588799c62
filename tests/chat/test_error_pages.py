"""Error pages look like the product and lead back to it; they never echo what was asked for."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.urls import reverse
from django.views import defaults

from chat.models import Conversation

pytestmark = pytest.mark.django_db


def test_someone_elses_conversation_is_a_styled_404_with_a_way_back(client, people):
    theirs = Conversation.objects.create(user=people.alice, title="Salary bands for C3")
    client.force_login(people.bob)
    response = client.get(reverse("chat:conversation", args=[theirs.pk]))
    page = response.content.decode()
    assert response.status_code == 404
    assert "404 Not Found" in page and "Salary bands" not in page
    assert 'href="/static/chat/chat.css"' in page or "chat/chat.css" in page
    assert f'href="{reverse("chat:index")}"' in page and "Back to your conversations" in page
    assert "bob" in page, "the header of the product, with who is logged in"


def test_a_hostile_path_is_not_echoed_on_the_404(client, people):
    client.force_login(people.bob)
    response = client.get("/conversations/<script>alert(1)</script>/")
    assert response.status_code == 404
    assert "<script>alert(1)" not in response.content.decode()


def test_403_and_500_pages_say_what_happened_and_lead_back(people):
    request = RequestFactory().get("/somewhere/")
    request.user = people.bob
    forbidden = defaults.permission_denied(request, PermissionDenied())
    assert forbidden.status_code == 403 and "403 Not allowed" in forbidden.content.decode()
    assert "Back to your conversations" in forbidden.content.decode()
    failed = defaults.server_error(request)
    assert failed.status_code == 500 and "500 Something went wrong" in failed.content.decode()
    assert "chat/chat.css" in failed.content.decode() and "Back to your conversations" in failed.content.decode()
