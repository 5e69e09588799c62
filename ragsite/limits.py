"""Per-user limits shared by every process through Redis (websocket frames, search requests, sockets).

Fixed one-minute windows: cheap (one INCR) and good enough against floods. If Redis is
unreachable the request is allowed: the product keeps working on the connected process.
"""

import asyncio
import logging
import time
import weakref

import redis
import redis.asyncio as aredis
from django.conf import settings

logger = logging.getLogger(__name__)
WINDOW_S = 60
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one per event loop
_sync_client: list[redis.Redis] = []


def async_client() -> aredis.Redis:
    loop = asyncio.get_running_loop()
    if loop not in _async_clients:
        _async_clients[loop] = aredis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
    return _async_clients[loop]


def _client() -> redis.Redis:
    if not _sync_client:
        _sync_client.append(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1))
    return _sync_client[0]


def _window(name: str, who: str) -> tuple[str, int]:
    """The counter's key for this minute, and the seconds until the next one starts."""
    now = time.time()
    return f"ratelimit:{name}:{who}:{int(now // WINDOW_S)}", int(WINDOW_S - now % WINDOW_S) + 1


async def allowed(name: str, who: str, per_minute: int) -> bool:
    key, _ = _window(name, who)
    try:
        client = async_client()
        count = await client.incr(key)
        if count == 1:
            await client.expire(key, WINDOW_S * 2)
    except (aredis.RedisError, OSError):
        logger.warning("Rate limit %s not applied: Redis is unreachable", name)
        return True
    return count <= per_minute


def wait_needed(name: str, who: str, per_minute: int) -> int:
    """0 when this request is within the limit; otherwise the seconds to wait (for Retry-After)."""
    key, retry_after = _window(name, who)
    try:
        client = _client()
        count = client.incr(key)
        if count == 1:
            client.expire(key, WINDOW_S * 2)
    except (redis.RedisError, OSError):
        logger.warning("Rate limit %s not applied: Redis is unreachable", name)
        return 0
    return 0 if count <= per_minute else retry_after
