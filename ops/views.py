"""``/metrics``: this web process's metrics and the service's state, for Prometheus.

Prometheus scrapes each web process on its own port, directly: the endpoint answers
only clients in ``PARLOIR_METRICS_ALLOWED_NETWORKS`` (loopback by default) that did
not come through a reverse proxy, and, when ``PARLOIR_METRICS_TOKEN`` is set, only
with that bearer token. Nothing in it names a person, but it says how the service is
doing and where its media nodes are: not for the public.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from ops.collector import DatabaseCollector

database = DatabaseCollector()
_state = CollectorRegistry(auto_describe=False)
_state.register(database)


def _allowed(request) -> bool:
    if request.META.get("HTTP_X_FORWARDED_FOR"):
        return False  # came through a proxy: the public's way in
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    networks = [ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_NETWORKS]
    if not any(peer in network for network in networks):
        return False
    token = settings.METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    return True


@never_cache
@require_GET
def metrics(request):
    if not _allowed(request):
        return HttpResponseForbidden("metrics are for the monitoring network\n")
    body = generate_latest(REGISTRY) + generate_latest(_state)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
