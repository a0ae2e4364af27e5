"""The single-machine supervisor restarts what crashes, with back-off, and keeps the rest."""

import sys

from parloir.supervisor import FIRST_BACKOFF, MAX_BACKOFF, STABLE_AFTER, Process, Supervisor


class Clock:
    """The supervisor's clock, moved by the test (the processes themselves are real)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _crashing() -> Process:
    return Process("worker", [sys.executable, "-c", "import sys; sys.exit(3)"])


def _steady() -> Process:
    return Process("web", [sys.executable, "-c", "import time; time.sleep(120)"])


def test_it_restarts_a_crashed_process_after_a_growing_back_off_and_keeps_the_others():
    clock = Clock()
    crashing, steady = _crashing(), _steady()
    supervisor = Supervisor([crashing, steady], clock=clock)
    supervisor.start_all()
    web_pid = steady.popen.pid
    try:
        waits = []
        for _ in range(6):
            crashing.popen.wait(10)
            supervisor.check()
            assert crashing.restart_at is not None
            waits.append(crashing.restart_at - clock.now)
            clock.now = crashing.restart_at - 0.01
            supervisor.check()
            assert crashing.restart_at is not None, "restarted before its back-off"
            clock.now = crashing.restart_at
            supervisor.check()
            assert crashing.restart_at is None and crashing.popen.poll() in (None, 3)
        assert waits == [FIRST_BACKOFF * 2**n for n in range(5)] + [MAX_BACKOFF]
        assert crashing.restarts == 6
        # The web process was never touched.
        assert steady.popen.pid == web_pid and steady.popen.poll() is None
    finally:
        supervisor.stop()
    assert steady.popen.poll() is not None


def test_a_process_that_ran_a_while_starts_again_from_the_first_back_off():
    clock = Clock()
    crashing = _crashing()
    supervisor = Supervisor([crashing], clock=clock)
    supervisor.start_all()
    try:
        for _ in range(3):
            crashing.popen.wait(10)
            supervisor.check()
            clock.now = crashing.restart_at
            supervisor.check()
        assert crashing.backoff == FIRST_BACKOFF * 8
        clock.now += STABLE_AFTER
        crashing.popen.wait(10)
        supervisor.check()
        assert crashing.restart_at - clock.now == FIRST_BACKOFF
    finally:
        supervisor.stop()
