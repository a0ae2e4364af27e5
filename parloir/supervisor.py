"""Run every parloir process of a single-machine installation and stop them together.

Used by scripts/run. Production runs the same commands under systemd (docs/deployment.md);
this keeps a demo to one command and one Ctrl-C.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen | None = None


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


def main() -> int:
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parloir.settings")
    import django

    django.setup()
    processes = planned_processes()
    for process in processes:
        process.popen = subprocess.Popen(process.argv, env={**os.environ, **process.env})
        print(f"started {process.name} (pid {process.popen.pid})", flush=True)
    site = os.environ.get("PARLOIR_SITE_URL", "http://localhost:8000")
    print(
        "\nparloir is running:\n"
        f"  relatives' portal   {site}/\n"
        f"  kiosk               {site}/kiosk/\n"
        f"  staff console       {site}/console/\n"
        f"  administration      {site}/admin/\n"
        f"  health              {site}/healthz\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for process in processes:
            if process.popen and process.popen.poll() is not None:
                print(
                    f"{process.name} exited with {process.popen.returncode}: stopping", flush=True
                )
                exit_code = 1
                stopping = True
        time.sleep(0.5)
    for process in processes:
        if process.popen and process.popen.poll() is None:
            process.popen.terminate()
    deadline = time.monotonic() + 10
    for process in processes:
        if process.popen:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
