import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down", reported as such
        return f"down: {type(exc).__name__}"
    return "ok"


def _channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        return "down: no channel layer configured"
    try:
        # A round trip through the layer proves it can carry events, not just that it exists.
        channel = async_to_sync(layer.new_channel)("healthz.")
        token = uuid.uuid4().hex
        async_to_sync(layer.send)(channel, {"type": "healthz", "token": token})
        received = async_to_sync(layer.receive)(channel)
        if received.get("token") != token:
            return "down: channel layer returned a wrong message"
    except Exception as exc:  # noqa: BLE001
        return f"down: {type(exc).__name__}"
    return "ok"


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database(), "channel_layer": _channel_layer()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "down", **checks}, status=200 if healthy else 503
    )


@never_cache
@require_GET
def livez(request):
    """The process answers: what a load balancer checks. A database restart must not take
    every web host out of the pool at once (their call sockets would all be cut, while
    the calls' media go on without the database)."""
    return JsonResponse({"status": "ok"})
