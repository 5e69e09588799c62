"""API tokens: created for a user, shown once, stored only as a hash."""

import hashlib
import secrets

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest
from django.utils import timezone

from knowledge.models import ApiToken

# Wrong tokens count like wrong passwords (django-axes), under a name no user can have, so
# guessing tokens from one address locks that address out of the token path only.
TOKEN_GUESSES = {"username": "(api token)"}


class TokensLocked(Exception):
    """Too many wrong tokens from this address; it must wait (settings.AXES_COOLOFF_TIME)."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user, name: str = "") -> str:
    key = "rag_" + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, key_hash=_hash(key))
    return key


def user_for_token(key: str):
    """The active user a key belongs to, or None."""
    token = ApiToken.objects.select_related("user").filter(key_hash=_hash(key)).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


def user_for_request_token(request: HttpRequest, key: str):
    """`user_for_token`, throttled per address like the login form."""
    if AxesProxyHandler.is_locked(request, TOKEN_GUESSES):
        raise TokensLocked
    user = user_for_token(key)
    if user is None:
        user_login_failed.send(sender=__name__, credentials=TOKEN_GUESSES, request=request)
        if AxesProxyHandler.is_locked(request, TOKEN_GUESSES):
            raise TokensLocked
    return user
