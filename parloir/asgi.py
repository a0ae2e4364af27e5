import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parloir.settings")
# Django must be set up before the routing imports consumers that import models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from ops.middleware import WebSocketMetrics  # noqa: E402
from parloir.background import StartWorkers  # noqa: E402
from parloir.logmask import redact_daphne_access_log  # noqa: E402
from parloir.routing import websocket_urlpatterns  # noqa: E402
from parloir.startup import check_serving_secrets  # noqa: E402
from parloir.warmup import warm_up  # noqa: E402

check_serving_secrets()
redact_daphne_access_log()
warm_up()

application = StartWorkers(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": WebSocketMetrics(
                AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
            ),
        }
    )
)
