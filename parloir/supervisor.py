"""Run every parloir process of a single-machine installation, restarting what crashes.

Used by scripts/run. Production runs the same commands under systemd, which restarts
them the same way (deploy/systemd/, docs/deployment.md); this keeps a demo to one
command and one Ctrl-C.

A process that exits is started again after a back-off (1 s, doubling up to 30 s, back
to 1 s once it has run for a minute): a crashed Janus or worker comes back by itself,
and the web server, which never depends on them to start, stays up meanwhile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
# A process that ran this long is healthy again: its next crash waits FIRST_BACKOFF.
STABLE_AFTER = 60.0


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None


def manage(*args: str) -> list[str]:
    return [PYTHON, str(ROOT / "manage.py"), *args]


def planned_processes() -> list[Process]:
    host = os.environ.get("PARLOIR_HOST", "127.0.0.1")
    port = os.environ.get("PARLOIR_PORT", "8000")
    processes = [
        Process(
            "web", [PYTHON, "-m", "daphne", "-b", host, "-p", port, "parloir.asgi:application"]
        ),
    ]
    from parloir.workers import extra_processes

    for name, argv in extra_processes(manage):
        processes.append(Process(name, argv))
    return processes


def say(text: str) -> None:
    print(f"[supervisor] {text}", flush=True)


class Supervisor:
    def __init__(self, processes: list[Process], *, clock=time.monotonic) -> None:
        self.processes = processes
        self.clock = clock
        self.stopping = False

    def start(self, process: Process) -> None:
        process.popen = subprocess.Popen(process.argv, env={**os.environ, **process.env})
        process.started_at = self.clock()
        process.restart_at = None
        say(f"started {process.name} (pid {process.popen.pid})")

    def check(self) -> None:
        """One look at every process: schedule the restart of what exited, start what is due."""
        now = self.clock()
        for process in self.processes:
            if process.popen is not None and process.restart_at is None:
                code = process.popen.poll()
                if code is None:
                    continue
                if now - process.started_at >= STABLE_AFTER:
                    process.backoff = FIRST_BACKOFF
                process.restart_at = now + process.backoff
                say(f"{process.name} exited with {code}: restarting it in {process.backoff:g} s")
                process.backoff = min(process.backoff * 2, MAX_BACKOFF)
            if process.restart_at is not None and now >= process.restart_at:
                process.restarts += 1
                self.start(process)

    def serve(self, tick: float = 0.25) -> None:
        """Watch the processes (started with start_all) until asked to stop, then stop them."""
        while not self.stopping:
            self.check()
            time.sleep(tick)
        self.stop()

    def start_all(self) -> None:
        for process in self.processes:
            self.start(process)

    def stop(self) -> None:
        for process in self.processes:
            if process.popen and process.popen.poll() is None:
                process.popen.terminate()
        deadline = self.clock() + 10
        for process in self.processes:
            if process.popen:
                try:
                    process.popen.wait(timeout=max(0.1, deadline - self.clock()))
                except subprocess.TimeoutExpired:
                    process.popen.kill()


def main() -> int:
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parloir.settings")
    import django

    django.setup()
    supervisor = Supervisor(planned_processes())

    def stop(signum, frame):
        supervisor.stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    site = os.environ.get("PARLOIR_SITE_URL", "http://localhost:8000")
    supervisor.start_all()
    print(
        "\nparloir is running:\n"
        f"  relatives' portal   {site}/\n"
        f"  kiosk               {site}/kiosk/\n"
        f"  staff console       {site}/console/\n"
        f"  administration      {site}/admin/\n"
        f"  health              {site}/healthz\n"
        "A process that stops is started again. Press Ctrl-C to stop everything.\n",
        flush=True,
    )
    supervisor.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
