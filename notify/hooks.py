"""What other layers learn from notify, and what notify asks them.

A layer registers in its AppConfig.ready(). ``status_changed`` listeners run inside the
transaction that changed the message (so what they send leaves after commit, like every
event); ``still_wanted`` checks say whether a message queued for a retry or a fallback
is still worth sending (a call code that was replaced is not).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from notify.models import Message

log = logging.getLogger(__name__)

_listeners: dict[str, list[Callable[[Message], object]]] = {}
_checks: dict[str, list[Callable[[Message, datetime], bool]]] = {}


ANY = "*"


def on_status_change(purpose: str, listener: Callable[[Message], object]) -> None:
    """``listener(message)`` after each change of a ``purpose`` message (ANY: of all)."""
    bucket = _listeners.setdefault(purpose, [])
    if listener not in bucket:
        bucket.append(listener)


def on_still_wanted(purpose: str, check: Callable[[Message, datetime], bool]) -> None:
    bucket = _checks.setdefault(purpose, [])
    if check not in bucket:
        bucket.append(check)


def remove_status_listener(purpose: str, listener: Callable[[Message], object]) -> None:
    if listener in _listeners.get(purpose, ()):
        _listeners[purpose].remove(listener)


def status_changed(message: Message) -> None:
    listeners = [*_listeners.get(message.purpose, ()), *_listeners.get(ANY, ())]
    for listener in listeners:
        try:
            listener(message)
        except Exception:
            # A listener must not undo the delivery bookkeeping it is told about.
            log.exception("status listener %r failed for message %s", listener, message.pk)


def still_wanted(message: Message, at: datetime) -> bool:
    return all(check(message, at) for check in _checks.get(message.purpose, ()))
