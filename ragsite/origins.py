"""Websockets are opened only by our own pages: the whole origin must match, scheme and port too.

Channels' AllowedHostsOriginValidator compares host names only, so a page served from
http://localhost:9999 (any other program on the machine) could open a socket with the user's
cookie. Here the Origin must be the origin the socket was opened on (its Host header, on an
allowed host, with the scheme the page used), or one listed in CSRF_TRUSTED_ORIGINS, the
same list Django's CSRF check trusts.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in {"", "/"}:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _page_scheme(scope: dict, headers: dict[bytes, bytes]) -> str:
    if getattr(settings, "HTTPS", False) or scope.get("scheme") == "wss":
        return "https"
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
        if headers.get(name, b"").decode("latin1") == proxy[1]:
            return "https"
    return "http"


def origin_allowed(scope: dict) -> bool:
    headers = dict(scope.get("headers", []))
    origin = _origin(headers.get(b"origin", b"").decode("latin1"))
    if origin is None:
        return False
    if origin in {_origin(trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS}:
        return True
    host = headers.get(b"host", b"").decode("latin1")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    return origin == _origin(f"{_page_scheme(scope, headers)}://{host}")


class SameOriginValidator:
    """ASGI middleware for websocket routes: anything else is denied before the consumer runs."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
