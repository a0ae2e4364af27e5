"""Short-lived TURN credentials (coturn's ``use-auth-secret``, the "TURN REST API").

The browser gets a username ``"<expiry>:<id>"`` and, as password,
base64(HMAC-SHA1(secret, username)); coturn recomputes it from the shared
secret, so no user database has to be kept in sync, and a leaked credential
stops working at ``<expiry>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from django.conf import settings

from parloir.env import ConfigurationError


def credential(
    secret: str, identity: str, *, ttl: int, now: float | None = None
) -> tuple[str, str]:
    """The (username, password) pair valid for ``ttl`` seconds from ``now``."""
    if ":" in identity:
        raise ValueError("The identity must not contain ':' (coturn splits the username on it)")
    expiry = int((time.time() if now is None else now) + ttl)
    username = f"{expiry}:{identity}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(identity: str, *, now: float | None = None) -> list[dict[str, Any]]:
    """RTCIceServer dicts for a browser's RTCPeerConnection; empty without TURN configured.

    ``identity`` ends up in coturn's logs: use an opaque id (a participant's), not a name.
    The TTL must outlast a whole call, since coturn checks it again on every
    allocation refresh.
    """
    urls = list(settings.TURN_URLS)
    if not urls:
        return []
    if not settings.TURN_SECRET:
        raise ConfigurationError("PARLOIR_TURN_URLS is set but PARLOIR_TURN_SECRET is not")
    username, password = credential(
        settings.TURN_SECRET, identity, ttl=settings.TURN_TTL_SECONDS, now=now
    )
    return [{"urls": urls, "username": username, "credential": password}]
