import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from ragsite.origins import SameOriginValidator  # noqa: E402

if os.environ.get("WARM_UP_MODELS") == "1":  # set by ragsite.run: the first question should not wait for loads
    import threading

    from chat.answering import warm_up
    from chat.generation import get_backend

    threading.Thread(target=warm_up, args=(get_backend(),), daemon=True).start()

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
