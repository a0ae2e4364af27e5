"""Test helpers: the notify worker on a thread of its own, waiting for a message's
status through notify's hooks (no polling), and comparing audio."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from django.db import transaction

from notify import hooks, worker
from notify.models import Message


class StatusWatcher:
    """Every committed status change of every message, as (id, status, channel)."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, str]] = []
        self._cond = threading.Condition()

    def _listener(self, message: Message) -> None:
        entry = (message.pk, message.status, message.channel)

        def committed() -> None:
            with self._cond:
                self.seen.append(entry)
                self._cond.notify_all()

        transaction.on_commit(committed)

    def wait(self, message_id: int, status: str, channel: str | None = None, timeout=30) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(
                pk == message_id and st == status and (channel is None or ch == channel)
                for pk, st, ch in self.seen
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    message = Message.objects.get(pk=message_id)
                    raise AssertionError(
                        f"message {message_id} never became {status}/{channel} in {timeout} s: "
                        f"seen {self.seen}; now {message.status}/{message.channel} "
                        f"error={message.error!r}"
                    )
                self._cond.wait(remaining)

    def statuses(self, message_id: int) -> list[tuple[str, str]]:
        with self._cond:
            return [(st, ch) for pk, st, ch in self.seen if pk == message_id]


@contextmanager
def watching() -> Iterator[StatusWatcher]:
    watcher = StatusWatcher()
    hooks.on_status_change(hooks.ANY, watcher._listener)
    try:
        yield watcher
    finally:
        hooks.remove_status_listener(hooks.ANY, watcher._listener)


@contextmanager
def running_worker() -> Iterator[asyncio.AbstractEventLoop]:
    """notify.worker.run() on a loop in a thread, as it runs inside the web process."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    def main() -> None:
        asyncio.set_event_loop(loop)
        holder["task"] = loop.create_task(worker.run())
        loop.call_soon(started.set)
        try:
            loop.run_until_complete(holder["task"])
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    thread = threading.Thread(target=main, name="notify-worker", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(holder["task"].cancel)
        thread.join(30)
        if thread.is_alive():
            # Left running, it would take the next test's messages.
            raise RuntimeError("the notify worker did not stop within 30 s of its cancellation")


def correlation(recorded: bytes, sent: bytes) -> float:
    """Peak normalized cross-correlation of two 16-bit PCM signals (any offset)."""
    return located(recorded, sent)[1]


def located(recorded: bytes, sent: bytes) -> tuple[int, float]:
    """Where ``sent`` best matches in ``recorded`` (a byte offset, negative when it starts
    before it), and the normalized correlation there."""
    a = np.frombuffer(recorded[: len(recorded) // 2 * 2], "<i2").astype(np.float64)
    b = np.frombuffer(sent[: len(sent) // 2 * 2], "<i2").astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    spectrum = np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size))
    lag = int(np.argmax(np.fft.irfft(spectrum, size)))
    lag = lag if lag < size // 2 else lag - size
    x, y = (a[lag:], b) if lag >= 0 else (a, b[-lag:])
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    denominator = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return 2 * lag, float(np.dot(x, y) / denominator) if denominator else 0.0
