"""The notify worker's loop: it keeps working beside another run, and it stops when told."""

import asyncio
import threading
import time

import pytest
from django.db import connections
from django.db.backends.signals import connection_created

from notify import worker

pytestmark = pytest.mark.django_db(transaction=True)


class RunningWorker:
    """worker.run() on an event loop of its own, in a thread (as in the web process)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task | None = None
        self.outcome: BaseException | None = None
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        assert self._started.wait(10)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(worker.run())
        self.loop.call_soon(self._started.set)
        try:
            self.loop.run_until_complete(self.task)
        except BaseException as exc:  # noqa: BLE001 (kept for the test's assertions)
            self.outcome = exc
        finally:
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.task.cancel)
            self.thread.join(10)


def test_it_keeps_polling_when_another_run_starts_on_another_loop(settings):
    settings.NOTIFY_POLL_MS = 20
    first = RunningWorker()
    time.sleep(0.2)
    second = RunningWorker()
    try:
        for _ in range(5):
            worker.wake()  # wakes the latest run, whose event is bound to its own loop
            time.sleep(0.1)
        assert first.thread.is_alive(), f"the first run ended: {first.outcome!r}"
        assert second.thread.is_alive(), f"the second run ended: {second.outcome!r}"
    finally:
        first.stop()
        second.stop()
    assert not first.thread.is_alive()
    assert not second.thread.is_alive()
    assert isinstance(first.outcome, asyncio.CancelledError)
    assert isinstance(second.outcome, asyncio.CancelledError)


def test_it_stops_even_if_a_pass_swallowed_its_cancellation(settings, monkeypatch):
    """Python 3.11's wait_for returns the awaited result instead of raising when the
    cancellation arrives as the result is ready: the pass under way goes on as if
    nothing happened. The worker must stop all the same."""
    settings.NOTIFY_POLL_MS = 20
    in_pass = threading.Event()
    swallowed = threading.Event()

    async def tick_that_swallows(self) -> None:
        in_pass.set()
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            swallowed.set()

    monkeypatch.setattr(worker.Worker, "tick", tick_that_swallows)
    running = RunningWorker()
    try:
        assert in_pass.wait(5)
        running.stop()
        assert swallowed.is_set()
        assert not running.thread.is_alive(), "the worker went on polling"
        assert isinstance(running.outcome, asyncio.CancelledError)
    finally:
        running.stop()


def test_it_closes_the_database_connections_of_its_threads_when_it_stops(settings, monkeypatch):
    """Connections persist between passes, but not beyond the run: left to the garbage
    collector, they kept PostgreSQL sessions open after the worker had stopped."""
    settings.NOTIFY_POLL_MS = 20
    # As in production with PostgreSQL (the embedded SQLite default closes after each use).
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)
    opened: list = []
    connected = threading.Event()

    def note(sender, connection, **kwargs) -> None:
        if threading.current_thread() is not threading.main_thread():
            opened.append(connection)
            connected.set()

    connection_created.connect(note)
    try:
        running = RunningWorker()
        assert connected.wait(10), "the worker never touched the database"
        assert running.thread.is_alive(), f"the run ended: {running.outcome!r}"
        assert any(wrapper.connection is not None for wrapper in opened)
        running.stop()
    finally:
        connection_created.disconnect(note)
    assert not running.thread.is_alive()
    assert opened, "the worker never touched the database"
    assert [wrapper for wrapper in opened if wrapper.connection is not None] == []
