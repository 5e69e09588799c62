"""A per-user limit on websocket frames, shared by every ASGI process through Redis.

Fixed one-minute windows: cheap (one INCR) and good enough against floods. If Redis is
unreachable the frame is allowed: chat keeps working on the connected process.
"""

import asyncio
import logging
import time
import weakref

import redis.asyncio as redis
from django.conf import settings

logger = logging.getLogger(__name__)
WINDOW_S = 60
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one per event loop


def _client() -> redis.Redis:
    loop = asyncio.get_running_loop()
    if loop not in _clients:
        _clients[loop] = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
    return _clients[loop]


async def frame_allowed(user_id: int) -> bool:
    key = f"ratelimit:chat-frames:{user_id}:{int(time.time() // WINDOW_S)}"
    try:
        client = _client()
        count = await client.incr(key)
        if count == 1:
            await client.expire(key, WINDOW_S * 2)
    except (redis.RedisError, OSError):
        logger.warning("Rate limit not applied: Redis is unreachable")
        return True
    return count <= settings.CHAT_FRAMES_PER_MINUTE
