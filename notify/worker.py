"""The notify worker: delivers queued messages of the network gateways (Kannel, SMPP, SIP).

It runs as `manage.py notify_worker` beside the web server (with Redis), or as a task
of the web process itself (parloir/background.py, without Redis). Each pass claims
due messages (notify.actions.claim: a conditional UPDATE, so two workers never send
the same attempt) and sends them concurrently, voice calls under their own limit.
A message queued in this process wakes the loop at once; from elsewhere (another
process, a retry falling due) it is found by the next pass.

Blocking work (the database, smpplib) runs in threads through asgiref's
sync_to_async, so that events sent from there (call.code to the kiosk) reach the
in-memory channel layer on this loop when the worker runs in the web process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections

from notify import actions
from notify.backends.base import Outcome
from ops import metrics as ops_metrics

log = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None
_wake: asyncio.Event | None = None


def _with_connection(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        close_old_connections()
        try:
            return fn(*args)
        finally:
            close_old_connections()

    return run


class DatabaseThreads:
    """The threads a run of the worker does its database work on.

    Their connections outlive each call (CONN_MAX_AGE), so that a pass does not reconnect.
    They are closed when the run stops: a finished thread's connection would otherwise
    stay open until the garbage collector finds it, and PostgreSQL counts it until then
    (a test database then cannot be dropped)."""

    def __init__(self, size: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="notify-db")
        self._wrappers: set[Any] = set()
        self._lock = threading.Lock()

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            try:
                return fn(*args)
            finally:
                with self._lock:
                    self._wrappers.update(connections.all(initialized_only=True))

        return run

    def close(self) -> None:
        """Wait for the threads to finish, then close the connections they left open."""
        self.executor.shutdown(wait=True)
        with self._lock:
            wrappers, self._wrappers = self._wrappers, set()
        for wrapper in wrappers:
            # Each connection belongs to a thread that has ended: nothing else can use it.
            wrapper.inc_thread_sharing()
            try:
                wrapper.close()
            finally:
                wrapper.dec_thread_sharing()


# One per running worker, by its loop (a test may run two workers on two loops at once).
_threads: dict[asyncio.AbstractEventLoop, DatabaseThreads] = {}


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run blocking ``fn`` in a thread of this run's pool (not the one shared sync thread:
    a voice call's bookkeeping must not wait behind a web request, nor the reverse)."""
    threads = _threads.get(asyncio.get_running_loop())
    if threads is None:
        return await sync_to_async(_with_connection(fn), thread_sensitive=False)(*args)
    call = threads.wrap(_with_connection(fn))
    return await sync_to_async(call, thread_sensitive=False, executor=threads.executor)(*args)


def wake() -> None:
    """A message was queued (after commit): start a pass now rather than at the next tick."""
    loop, event = _loop, _wake
    if loop is None or event is None or loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(event.set)
    except RuntimeError:  # the loop closed in between
        pass


def run_in_worker(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn`` (database work that may send events) from the worker's loop when there is
    one; from any other thread (the SMPP reader) it would otherwise bypass it."""
    loop = _loop
    if loop is not None and not loop.is_closed():
        future = asyncio.run_coroutine_threadsafe(in_thread(fn, *args), loop)
        future.add_done_callback(_log_failure)
    else:
        _with_connection(fn)(*args)


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("Notify worker job failed", exc_info=future.exception())


class Worker:
    def __init__(self) -> None:
        self.tasks: dict[int, asyncio.Task] = {}
        self.limit = asyncio.Semaphore(max(1, settings.NOTIFY_CONCURRENCY))
        self.calls = asyncio.Semaphore(max(1, settings.SIP_MAX_CALLS))

    async def deliver(self, message_id: int) -> None:
        async with self.limit:
            claimed = await in_thread(actions.claim, message_id)
            if claimed is None:
                return
            message, attempt = claimed
            backend = actions.get_backend(message.backend)
            try:
                if message.channel == "voice":
                    async with self.calls:
                        outcome = await backend.asend(message)
                else:
                    outcome = await backend.asend(message)
            except Exception as exc:
                # A bug or a misconfiguration must not leave the row claimed until its lease
                # ends; it is kept on the attempt and retried like a gateway failure.
                log.exception("Backend %s failed on message %s", backend.name, message_id)
                outcome = Outcome(ok=False, error=f"{type(exc).__name__}: {exc}", retryable=True)
            message = await in_thread(actions.record, message.pk, attempt.pk, outcome)
            await in_thread(backend.recorded, message)

    async def tick(self) -> None:
        ids = await in_thread(actions.due_message_ids, 100)
        for message_id in ids:
            if message_id in self.tasks:
                continue
            task = asyncio.create_task(self.deliver(message_id))
            self.tasks[message_id] = task
            task.add_done_callback(lambda t, key=message_id: self._done(key, t))
        moved = await in_thread(actions.fall_back_unconfirmed)
        if moved:
            log.info("SMS without delivery report, calling instead: %s", moved)

    def _done(self, key: int, task: asyncio.Task) -> None:
        self.tasks.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("Delivery of message %s failed", key, exc_info=task.exception())
        # What this delivery decided (a retry, a fallback) may be due already.
        wake()

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks.values()), return_exceptions=True)


async def run(*, once: bool = False) -> None:
    """Deliver queued messages until cancelled (or one pass and its sends, with ``once``)."""
    global _loop, _wake
    # This run's own event: a later run on another loop (a test's next worker) must not
    # make this one wait on an event bound to that loop.
    woken = asyncio.Event()
    loop = asyncio.get_running_loop()
    _loop, _wake = loop, woken
    this_task = asyncio.current_task()
    # Deliveries and passes, with a thread to spare for receipts from the SMPP link.
    threads = _threads[loop] = DatabaseThreads(settings.NOTIFY_CONCURRENCY + 2)
    worker = Worker()
    try:
        while True:
            if this_task is not None and this_task.cancelling():
                # Python 3.11's wait_for (in sync_to_async, in the backends) can swallow
                # the cancellation that stops this worker; it must not poll on for ever.
                raise asyncio.CancelledError
            woken.clear()
            try:
                await worker.tick()
                ops_metrics.worker_pass("notify")
            except Exception:
                # One bad pass (the database restarting) must not stop the deliveries.
                log.exception("Notify worker pass failed")
                ops_metrics.worker_pass("notify", ok=False)
            if once:
                await worker.drain()
                return
            try:
                async with asyncio.timeout(settings.NOTIFY_POLL_MS / 1000):
                    await woken.wait()
            except TimeoutError:
                pass
    finally:
        for task in list(worker.tasks.values()):
            task.cancel()
        await asyncio.gather(*list(worker.tasks.values()), return_exceptions=True)
        if _wake is woken:
            _loop, _wake = None, None
        from notify.backends import smpp

        await asyncio.to_thread(smpp.close_link)
        _threads.pop(loop, None)
        await asyncio.to_thread(threads.close)
