"""Extension points that run inside the caller's transaction.

A lower layer fires them when something it owns changed; the layers above register
their listeners in their AppConfig.ready(), so the lower layer never imports them.
Unlike media's and notify's hooks, a listener's exception is not caught: the caller's
change must roll back when a layer above cannot follow it (a contact revoked while its
call stays open would leave a usable code).
"""

from __future__ import annotations

from collections.abc import Callable


class Hook:
    """Listeners run in registration order, which is the order of INSTALLED_APPS."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[..., object]] = []

    def register(self, listener: Callable[..., object]) -> None:
        # ready() may run twice (tests that reload apps): a listener must not run twice.
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove(self, listener: Callable[..., object]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def __call__(self, *args, **kwargs) -> None:
        for listener in list(self._listeners):
            listener(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._listeners)} listener(s)>"
