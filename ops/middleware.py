"""HTTP and WebSocket counters for every request this process serves."""

from __future__ import annotations

import time

from ops import metrics as m


class HttpMetricsMiddleware:
    """First in MIDDLEWARE: it sees every answer, the other middlewares' refusals too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        audience = m.audience(request.path)
        m.HTTP_RESPONSES.labels(audience, f"{response.status_code // 100}xx").inc()
        m.HTTP_DURATION.labels(audience).observe(time.monotonic() - started)
        return response

    def process_exception(self, request, exception):
        m.HTTP_EXCEPTIONS.labels(m.audience(request.path)).inc()


class WebSocketMetrics:
    """ASGI middleware around the WebSocket router: opens, closes by code, and errors."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        audience = m.audience(scope.get("path", ""))
        accepted = False

        async def sending(message):
            nonlocal accepted
            kind = message.get("type")
            if kind == "websocket.accept" and not accepted:
                accepted = True
                m.WS_CONNECTIONS.labels(audience).inc()
                m.WS_OPEN.labels(audience).inc()
            elif kind == "websocket.close":
                if not accepted:
                    m.WS_ERRORS.labels(audience, "refused").inc()
                m.WS_CLOSES.labels(audience, str(message.get("code", 1000))).inc()
            await send(message)

        try:
            return await self.app(scope, receive, sending)
        except Exception:
            m.WS_ERRORS.labels(audience, "exception").inc()
            raise
        finally:
            if accepted:
                m.WS_OPEN.labels(audience).dec()
