"""One REDIS_URL serves Celery and Channels, which spell a Unix socket differently."""


def celery_broker_url(redis_url: str) -> str:
    """Kombu names a Unix-socket Redis `redis+socket://`; redis-py names it `unix://`."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url
