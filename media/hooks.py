"""Extension points of the media plane for the layers above it.

The health checker (media/health.py) calls these after it has changed a node's
state in the database. The call is made once per transition, by the checker
whose conditional UPDATE won, in that checker's process and thread, outside any
transaction. Keep them quick and let them raise nothing: a failure is logged
and the checker goes on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from media.models import MediaNode

log = logging.getLogger(__name__)


def node_down(node: MediaNode) -> None:
    """``node`` stopped answering and is now ``down``.

    The call layer will hook in here to mark the calls carried by the node as
    ``media_failed`` (their media is gone with Janus). For now this only logs.
    """
    log.error("Media node %s is down: %s", node.name, node.last_error or "no answer")
