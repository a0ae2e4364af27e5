"""Extension points of the media plane for the layers above it.

The health checker (media/health.py) calls these after it has changed a node's
state in the database. The call is made once per transition, by the checker
whose conditional UPDATE won, in that checker's process and thread, outside any
transaction. Keep them quick and let them raise nothing: a failure is logged
and the checker goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from media.models import MediaNode

log = logging.getLogger(__name__)


_node_down_listeners: list[Callable[[MediaNode], object]] = []
_node_up_listeners: list[Callable[[MediaNode], object]] = []


def on_node_down(listener: Callable[[MediaNode], object]) -> None:
    """Register ``listener`` (the call layer does, in its AppConfig.ready)."""
    if listener not in _node_down_listeners:
        _node_down_listeners.append(listener)


def on_node_up(listener: Callable[[MediaNode], object]) -> None:
    """Register ``listener`` for nodes that answer again (or for the first time)."""
    if listener not in _node_up_listeners:
        _node_up_listeners.append(listener)


def _tell(listeners: list, node: MediaNode, what: str) -> None:
    for listener in list(listeners):
        try:
            listener(node)
        except Exception:
            log.exception("%s listener %r failed for %s", what, listener, node.name)


def node_down(node: MediaNode) -> None:
    """``node`` stopped answering and is now ``down``: tell the layers above."""
    log.error("Media node %s is down: %s", node.name, node.last_error or "no answer")
    _tell(_node_down_listeners, node, "node_down")


def node_up(node: MediaNode) -> None:
    """``node`` answers again and takes calls (``up``, not draining): tell the layers above."""
    _tell(_node_up_listeners, node, "node_up")
