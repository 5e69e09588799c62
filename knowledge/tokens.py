"""API tokens: created for a user, shown once, stored only as a hash."""

import hashlib
import secrets

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest
from django.utils import timezone

from knowledge.models import ApiToken
from ragsite.api_errors import ApiError

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


def token_for(key: str, scope: str) -> ApiToken | None:
    """The usable token of this key (its `user` loaded), or None: unknown, expired, or its person
    deactivated; its use is recorded. Raises ScopeMissing for a valid token that may not do `scope`."""
    token = ApiToken.objects.select_related("user").filter(key_hash=_hash(key)).first()
    if token is None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return None
    if scope not in token.scopes:
        raise ScopeMissing(f"This token may not {scope}; make one with that scope.")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def user_for_request_token(request: HttpRequest, key: str, scope: str = "search"):
    """The active user a key belongs to, throttled per address like the login form."""
    token = token_for_request(request, key, scope)
    return token.user if token else None


def token_for_request(request: HttpRequest, key: str, scope: str) -> ApiToken | None:
    """`token_for`, throttled per address like the login form: wrong keys count as failed logins."""
    if AxesProxyHandler.is_locked(request, TOKEN_GUESSES):
        raise TokensLocked
    token = token_for(key, scope)
    if token is None:
        user_login_failed.send(sender=__name__, credentials=TOKEN_GUESSES, request=request)
        if AxesProxyHandler.is_locked(request, TOKEN_GUESSES):
            raise TokensLocked
    return token


def tokens_of(user) -> list[ApiToken]:
    """A person's own tokens, newest first: what the tokens page lists."""
    return list(ApiToken.objects.filter(user=user).order_by("-created_at", "-id"))


def token_revoke(*, user, token_id: int) -> bool:
    """Only the owner revokes here (staff revoke any token in the admin); False when there is none of theirs."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)


def scopes_for(user) -> tuple[str, ...]:
    """What a person may give a token: managing documents is for staff who may do it in the admin."""
    may_manage = user.is_staff and user.has_perm("knowledge.add_document")
    return tuple(s for s in ApiToken.SCOPES if s != "documents" or may_manage)


def bearer_token(request: HttpRequest, scope: str) -> ApiToken:
    """The request's usable bearer token for `scope`, or the API error that says why not."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(401, "token_required", f"Send 'Authorization: Bearer <token>' with the '{scope}' scope.")
    try:
        token = token_for_request(request, header.removeprefix("Bearer ").strip(), scope)
    except TokensLocked:
        raise ApiError(429, "locked_out", "Too many wrong tokens from this address; wait and try again.", 60) from None
    except ScopeMissing as exc:
        raise ApiError(403, "scope_missing", str(exc)) from None
    if token is None:
        raise ApiError(401, "token_invalid", "The token is unknown, expired or revoked, or its owner is deactivated.")
    return token
