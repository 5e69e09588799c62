"""Wrong passwords and API tokens are throttled per user name and address (django-axes), shared by every process."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from knowledge.tokens import token_create

pytestmark = pytest.mark.django_db

ATTACKER, COLLEAGUE = "10.0.0.66", "10.0.0.7"


def log_in(username: str, password: str, *, address: str = ATTACKER, path: str = "/login/") -> tuple[int, str]:
    client = Client(REMOTE_ADDR=address)
    response = client.post(path, {"username": username, "password": password})
    return response.status_code, response.content.decode()


def test_wrong_passwords_lock_that_user_name_from_that_address_with_a_message(people, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        status, page = log_in("bob", "guess")
        assert status == 200 and "did not match" in page
    status, page = log_in("bob", "guess")
    assert status == 429
    status, page = log_in("bob", "pw-bob-123")
    assert status == 429, "the right password does not get in while locked"
    assert "Too many failed attempts" in page and "15 minutes" in page and "administrator" in page
    assert log_in("bob", "pw-bob-123", address=COLLEAGUE)[0] == 302, "bob elsewhere is not locked out"
    assert log_in("alice", "pw-alice-123")[0] == 302, "another user from the same address is not locked out"


def test_the_admin_login_is_throttled_too_and_an_administrator_can_unlock(people, settings):
    staff = User.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    admin_login = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in("staff", "guess", path=admin_login)
    status, page = log_in("staff", "pw-staff-123", path=admin_login)
    assert status == 429 and "Too many failed attempts" in page
    assert AccessAttempt.objects.filter(username="staff").exists()
    root = Client()
    root.force_login(User.objects.create_superuser("root", password="pw-root-123"))
    listing = root.get(reverse("admin:axes_accessattempt_changelist")).content.decode()
    assert "staff" in listing and ATTACKER in listing, "the administrator sees who is locked out"
    call_command("axes_reset_username", "staff")
    assert log_in("staff", "pw-staff-123", path=admin_login)[0] == 302
    assert staff.pk


def test_guessed_api_tokens_lock_the_address_out_of_the_token_path(client, people, settings):
    key = token_create(user=people.bob)
    guess = {"HTTP_AUTHORIZATION": "Bearer rag_guessed", "REMOTE_ADDR": ATTACKER}
    statuses = [
        client.get("/api/search", {"q": "leave"}, **guess).status_code for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses == [401] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    locked = client.get("/api/search", {"q": "leave"}, HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=ATTACKER)
    assert locked.status_code == 429 and "Too many failed attempts" in locked.json()["error"]
    assert int(locked.headers["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    elsewhere = client.get("/api/search", {"q": "leave"}, HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=COLLEAGUE)
    assert elsewhere.status_code == 200
    assert log_in("bob", "pw-bob-123")[0] == 302, "token guesses do not lock bob's password login"


def test_searches_are_limited_per_user_with_retry_after(client, people, settings):
    settings.SEARCH_REQUESTS_PER_MINUTE = 3
    key = token_create(user=people.bob)
    client.force_login(people.bob)
    assert [client.get("/api/search", {"q": "leave"}).status_code for _ in range(2)] == [200, 200]
    assert client.get(reverse("search"), {"q": "leave"}).status_code == 200, "the page counts with the API"
    limited = client.get("/api/search", {"q": "leave"}, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert limited.status_code == 429 and 0 < int(limited.headers["Retry-After"]) <= 61
    assert "Too many searches" in limited.json()["error"]
    page = client.get(reverse("search"), {"q": "leave"})
    assert page.status_code == 429 and "Too many searches" in page.content.decode()
    client.force_login(people.alice)
    assert client.get("/api/search", {"q": "leave"}).status_code == 200, "the limit is per person"
