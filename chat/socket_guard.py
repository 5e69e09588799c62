"""A socket's standing: it speaks for its session only while that session is valid.

A websocket outlives the request that opened it, so what AuthMiddlewareStack found at the
handshake goes stale: after a logout, a deactivation, a password change or the session's
expiry the socket would keep answering with the rights it had. Three things keep it honest:

- `session_user` reads the session and the user again (every question, and every
  CHAT_SESSION_RECHECK_S while the socket is open), as Django's own middleware would on a new request;
- logout and changes to a user tell that user's sockets on every web process through the
  channel layer (`announce`), and they check at once;
- a per-user cap on open sockets, shared through Redis (`slot_take`), so one account cannot
  hold hundreds of connections on the web processes.

If Redis is away the announcements and the cap are skipped (logged): the checks on every
question and on the timer still hold, and chat keeps working on the connected process.
"""

import asyncio
import hashlib
import logging
import time
import weakref
from importlib import import_module
from types import SimpleNamespace

from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer
from django.conf import settings
from django.contrib import auth
from django.db import transaction
from redis.exceptions import RedisError

from ragsite.limits import async_client

logger = logging.getLogger(__name__)

SLOT_TTL_S = 180  # a slot a dead process never gave back frees itself (kept fresh every recheck)
# Atomic across processes: drop expired slots, refuse past the cap, else take one.
_TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
CHECK = "socket.check"  # "check your session now": the user changed
END = "socket.end"  # "this session has ended": sent at logout, before Django empties the session


def session_user(session_key: str | None):
    """The active user `session_key` is logged in as now, or None (logged out, expired, password changed)."""
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    user = auth.get_user(SimpleNamespace(session=session))
    return user if user.is_authenticated and user.is_active else None


_listening_layers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def listening_layer():
    """A channel layer for receiving on the running event loop; None without CHANNEL_LAYERS.

    Channels' shared instance counts receives across event loops: one left pending on a loop that
    ended (a test's, for one) would refuse every later receive ("Two event loops…"). A server has
    one loop, so this is one instance per process there.
    """
    if get_channel_layer() is None:
        return None
    loop = asyncio.get_running_loop()
    if loop not in _listening_layers:
        _listening_layers[loop] = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    return _listening_layers[loop]


def user_group(user_id: int) -> str:
    return f"sockets.user.{user_id}"


def session_group(session_key: str) -> str:
    """Session keys are secrets: the group is named by a hash of it."""
    return "sockets.session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def announce(group: str, kind: str = CHECK) -> None:
    """Tell the sockets in `group`, on every process, after the commit (so that a check sees the change)."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, {"type": kind})
        except (RedisError, OSError):
            logger.warning("Sockets of %s not told: Redis is unreachable", group)

    transaction.on_commit(send)


def on_logout(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        announce(session_group(key), END)


def on_user_change(sender, instance, **kwargs) -> None:
    """Deactivation, a new password, lost superuser rights, deletion: the user's sockets check now."""
    announce(user_group(instance.pk))


def _slots_key(user_id: int) -> str:
    return f"sockets:slots:{user_id}"


async def slot_take(user_id: int, token: str) -> bool:
    """False when the user already holds CHAT_SOCKETS_PER_USER sockets."""
    now = time.time()
    try:
        taken = await async_client().eval(
            _TAKE_SLOT,
            1,
            _slots_key(user_id),
            now,
            settings.CHAT_SOCKETS_PER_USER,
            now + SLOT_TTL_S,
            token,
            SLOT_TTL_S,
        )
    except (RedisError, OSError):
        logger.warning("Socket cap not applied: Redis is unreachable")
        return True
    return bool(taken)


async def slot_keep(user_id: int, token: str) -> None:
    try:
        await async_client().zadd(_slots_key(user_id), {token: time.time() + SLOT_TTL_S}, xx=True)
    except (RedisError, OSError):
        pass


async def slot_give_back(user_id: int, token: str) -> None:
    try:
        await async_client().zrem(_slots_key(user_id), token)
    except (RedisError, OSError):
        pass
