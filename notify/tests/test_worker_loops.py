"""Two worker loops at once (a test's next worker, before the previous one has stopped)."""

import asyncio
import threading

import pytest

from notify import worker

pytestmark = pytest.mark.django_db(transaction=True)


def _start_worker(stop: threading.Event, errors: list) -> threading.Thread:
    def main() -> None:
        async def until_stopped() -> None:
            task = asyncio.create_task(worker.run())
            while not stop.is_set():
                await asyncio.sleep(0.05)
                if task.done():
                    break
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

        try:
            asyncio.run(until_stopped())
        except Exception as exc:  # noqa: BLE001 (reported to the test)
            errors.append(exc)

    thread = threading.Thread(target=main, name="notify-worker-test", daemon=True)
    thread.start()
    return thread


def _wait_until(condition, seconds: float = 10) -> None:
    deadline = threading.Event()
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        deadline.wait(0.01)
    raise AssertionError("condition not met")


def test_a_second_worker_loop_does_not_break_the_first(settings):
    settings.NOTIFY_POLL_MS = 50
    errors: list = []
    stop_first, stop_second = threading.Event(), threading.Event()
    first = _start_worker(stop_first, errors)
    _wait_until(lambda: worker._wake is not None)
    first_wake = worker._wake
    second = _start_worker(stop_second, errors)
    _wait_until(lambda: worker._wake not in (None, first_wake))
    # Several polls (50 ms each) go by, the first worker waiting on its own wake-up event
    # while the module's now belongs to the second.
    threading.Event().wait(0.5)
    worker.wake()
    threading.Event().wait(0.2)
    stop_first.set()
    first.join(10)
    threading.Event().wait(0.2)
    stop_second.set()
    second.join(10)
    assert not first.is_alive() and not second.is_alive()
    assert errors == []
    assert worker._wake is None and worker._loop is None
