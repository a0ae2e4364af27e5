"""The whole of parloir running for a browser test, inside the test's network namespace.

Janus, the web server (daphne), the call worker and the media health checker run as
real processes in the namespace; the browsers (Debian Chromium through Playwright) are
started from a thread that entered it, so every packet stays inside. The processes
share the test database: PostgreSQL through its unix socket (TCP on the host's
loopback is not reachable from the namespace), or the SQLite test file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.db import connection

from media.models import MediaNode
from tests.media.harness import HarnessError, JanusProcess, Netns, _die_with_parent

ROOT = Path(__file__).resolve().parents[2]
WEB_PORT = 8000
RESTART_MARK = "=== restarted by the test ==="
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Janus ignores mDNS candidates: let Chromium give the namespace address itself.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


def database_url() -> str:
    cfg = connection.settings_dict
    if connection.vendor == "postgresql":
        host = urllib.parse.quote("/var/run/postgresql", safe="")
        user = urllib.parse.quote(cfg["USER"] or "postgres")
        return f"postgres://{user}@{host}/{cfg['NAME']}"
    return f"sqlite:///{cfg['NAME']}"


class Stack:
    def __init__(self, netns: Netns, janus: JanusProcess, workdir: Path) -> None:
        self.netns = netns
        self.janus = janus
        self.workdir = workdir
        self.outbox = Path(settings.OUTBOX_PATH)
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.base_url = f"http://127.0.0.1:{WEB_PORT}"
        self.bind = "127.0.0.1"
        # Settings a test gives its processes (before starting or restarting them).
        self.extra_env: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
        env.pop("REDIS_URL", None)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "parloir.test_settings",
                "DATABASE_URL": database_url(),
                "PARLOIR_SECRET_KEY": settings.SECRET_KEY,
                "PARLOIR_VAR_DIR": str(self.workdir / "var"),
                "PARLOIR_OUTBOX_PATH": str(self.outbox),
                "PARLOIR_SITE_URL": self.base_url,
                "PARLOIR_JANUS_ADMIN_SECRET": self.janus.admin_secret,
                "PARLOIR_JANUS_ROOM_ADMIN_KEY": self.janus.room_admin_key,
                "PARLOIR_LOG_LEVEL": "INFO",
                # No Redis here: the workers must run inside the web server.
                "PARLOIR_IN_PROCESS_WORKERS": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def sibling_janus(self, workdir: Path, name: str) -> JanusProcess:
        """A second Janus in the namespace, sharing the first one's secrets (the web process
        has only one set), on ports and RTP ports of its own. Not started."""
        workdir.mkdir(parents=True, exist_ok=True)
        sibling = JanusProcess(
            self.netns, workdir, name=name, ws_port=8288, admin_ws_port=7288,
            rtp_port_range="30000-39999",
        )  # fmt: skip
        sibling.admin_secret = self.janus.admin_secret
        sibling.room_admin_key = self.janus.room_admin_key
        sibling.config = replace(
            sibling.config, admin_secret=sibling.admin_secret, room_admin_key=sibling.room_admin_key
        )
        return sibling

    def register_node(self, janus: JanusProcess | None = None) -> MediaNode:
        janus = janus or self.janus
        node, _ = MediaNode.objects.update_or_create(
            name=janus.config.node_name,
            defaults={
                "ws_url": janus.ws_url,
                "admin_ws_url": janus.admin_ws_url,
                "recording_dir": str(janus.recording_dir),
            },
        )
        return node

    def _spawn(self, name: str, argv: list[str]) -> None:
        log_path = self.workdir / f"{name}.log"
        self.logs[name] = log_path
        log = log_path.open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603
            ["ip", "netns", "exec", self.netns.name, *argv],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )

    def start_web(self) -> None:
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                self.bind,
                "-p",
                str(WEB_PORT),
                "parloir.asgi:application",
            ],
        )
        self._wait_for_log("web", "Listening on TCP address", 20)

    def start(self) -> None:
        # No Redis in the namespace: the workers run inside the web process, as on a
        # single-machine installation.
        self.register_node()
        self.start_web()
        self.wake_web()
        self.wait_node_up()

    def wake_web(self) -> None:
        # The first request starts the in-process workers; this one comes from inside
        # the namespace like every other.
        subprocess.run(  # noqa: S603
            ["ip", "netns", "exec", self.netns.name, "curl", "-fsS", f"{self.base_url}/healthz"],
            check=True,
            capture_output=True,
            timeout=10,
        )

    def wait_node_up(self, node: MediaNode | None = None, timeout: float = 15) -> None:
        nodes = MediaNode.objects.filter(state=MediaNode.State.UP)
        if node is not None:
            nodes = nodes.filter(pk=node.pk)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if nodes.exists():
                return
            time.sleep(0.1)
        raise HarnessError(f"The media node never came up:\n{self.log_tail('media_health')}")

    def _wait_for_log(self, name: str, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # After a restart, only the new process's lines count: the old one listened too.
            if needle in self.log_since_restart(name):
                return
            if self.processes[name].poll() is not None:
                break
            time.sleep(0.05)
        raise HarnessError(f"{name} did not start:\n{self.log_tail(name)}")

    def restart_web(self) -> None:
        """Kill the web process as a crash would, and start a new one."""
        self.stop_process("web", sig=signal.SIGKILL)
        with self.logs["web"].open("a") as log:
            log.write(f"{RESTART_MARK}\n")
        self.start_web()

    def log_since_restart(self, name: str = "web") -> str:
        return self.logs[name].read_text(errors="replace").rpartition(RESTART_MARK)[2]

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def run(self, runner, coro, timeout: float = 90):
        """Run a browser scenario in the namespace; on failure, show the web server's log."""
        try:
            return runner.run(coro, timeout=timeout)
        except Exception:
            print("--- web ---\n" + self.log_tail("web", 150))
            raise

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.logs.get(name)
        if path is None or not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_process(name)
