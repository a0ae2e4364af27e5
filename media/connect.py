"""Connections from parloir to its media nodes, with the deployment's secrets and TLS.

A node on another machine is reached over wss:// with its certificate verified against
PARLOIR_JANUS_CA_FILE (docs/deployment.md); one on this machine over ws://127.0.0.1.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

from django.conf import settings

from media.janus import JanusAdmin, JanusClient, tls_context


@lru_cache(maxsize=4)
def _context(ca_file: str) -> ssl.SSLContext:
    return tls_context(ca_file)


def ssl_for(url: str) -> ssl.SSLContext | None:
    if not url.startswith("wss://"):
        return None
    return _context(settings.JANUS_CA_FILE or "")


def client(url: str, **options) -> JanusClient:
    return JanusClient(
        url,
        api_secret=settings.JANUS_API_SECRET,
        request_timeout=settings.JANUS_REQUEST_TIMEOUT,
        ssl_context=ssl_for(url),
        **options,
    )


def admin(url: str, admin_secret: str, **options) -> JanusAdmin:
    return JanusAdmin(url, admin_secret, ssl_context=ssl_for(url), **options)
