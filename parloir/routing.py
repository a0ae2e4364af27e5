"""WebSocket routes, one consumer per audience (portal, kiosk, console)."""

websocket_urlpatterns: list = []
