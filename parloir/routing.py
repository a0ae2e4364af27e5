"""WebSocket routes, one consumer per audience."""

from django.urls import path

from calls.consumers import CallConsumer
from www.console.consumers import ConsoleConsumer

websocket_urlpatterns = [
    path("ws/call/", CallConsumer.as_asgi()),
    path("ws/console/", ConsoleConsumer.as_asgi()),
]
