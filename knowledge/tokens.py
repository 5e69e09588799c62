"""API tokens: created for a user, shown once, stored only as a hash."""

import hashlib
import secrets

from django.utils import timezone

from knowledge.models import ApiToken


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
