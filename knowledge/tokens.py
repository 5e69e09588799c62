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


class ScopeMissing(Exception):
    """A valid token that may not do this ("search" for a token made only to ask)."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user, name: str = "", scopes: list[str] | None = None, expires_at=None) -> str:
    unknown = set(scopes or []) - set(ApiToken.SCOPES)
    if unknown:
        raise ValueError(f"Unknown scope {sorted(unknown)[0]!r}; a token may have {', '.join(ApiToken.SCOPES)}.")
    key = "rag_" + secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user, name=name, key_hash=_hash(key), scopes=list(scopes or ["search", "ask"]), expires_at=expires_at
    )
    return key


def user_for_token(key: str, scope: str = "search"):
    """The active user a key belongs to, or None (unknown, expired, or its person deactivated).

    Raises ScopeMissing for a valid token that may not do `scope`."""
    token = ApiToken.objects.select_related("user").filter(key_hash=_hash(key)).first()
    if token is None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return None
    if scope not in token.scopes:
        raise ScopeMissing(f"This token may not {scope}; make one with that scope.")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


def user_for_request_token(request: HttpRequest, key: str, scope: str = "search"):
    """`user_for_token`, throttled per address like the login form."""
    if AxesProxyHandler.is_locked(request, TOKEN_GUESSES):
        raise TokensLocked
    user = user_for_token(key, scope)
    if user is None:
        user_login_failed.send(sender=__name__, credentials=TOKEN_GUESSES, request=request)
        if AxesProxyHandler.is_locked(request, TOKEN_GUESSES):
            raise TokensLocked
    return user
