"""A worker's metrics on a port of its own (``PARLOIR_METRICS_PORT``).

Workers are management commands without a web server: prometheus_client's own HTTP
server serves their registry. Nothing is started when the port is unset (0), as in
the single-process installation, where the workers run inside the web server and its
``/metrics`` carries their metrics.
"""

from __future__ import annotations

import logging

from django.conf import settings
from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def serve(port: int | None = None) -> int | None:
    """Start the exporter thread; return the port it listens on, or None."""
    port = settings.METRICS_PORT if port is None else port
    if not port:
        return None
    server, _thread = start_http_server(port, addr=settings.METRICS_ADDR)
    bound = server.server_address[1]
    log.info("Metrics on http://%s:%s/metrics", settings.METRICS_ADDR, bound)
    return bound
