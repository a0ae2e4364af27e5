"""`./scripts/run`'s supervisor, for real: Janus crashes and comes back by itself, and
the web server stays up meanwhile, serving the same process throughout."""

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.media.harness import _die_with_parent

pytestmark = [pytest.mark.media]

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, netns) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "parloir.settings",
            "PARLOIR_VAR_DIR": str(tmp_path / "var"),
            "PARLOIR_SECRET_KEY": secrets.token_urlsafe(32),
            "PARLOIR_AUDIT_KEY": secrets.token_urlsafe(32),
            "PARLOIR_JANUS_ADMIN_SECRET": secrets.token_urlsafe(16),
            "PARLOIR_JANUS_ROOM_ADMIN_KEY": secrets.token_urlsafe(16),
            "PARLOIR_RECORDING_MASTER_KEY": secrets.token_urlsafe(32),
            "PARLOIR_JANUS_ICE_ENFORCE_LIST": netns.address,
            "PARLOIR_JANUS_INTERFACE": netns.address,
            "PARLOIR_SECURE_COOKIES": "0",
        }
    )
    return env


def _in_netns(netns, argv, **kwargs):
    return subprocess.run(  # noqa: S603
        ["ip", "netns", "exec", netns.name, *argv], cwd=ROOT, check=True, **kwargs
    )


def _wait_line(log: Path, pattern: str, count: int, timeout: float = 30) -> list[str]:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        found = re.findall(pattern, log.read_text(errors="replace"))
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} seen fewer than {count} times:\n{log.read_text()[-3000:]}")


def _healthz(netns) -> str:
    result = subprocess.run(  # noqa: S603
        ["ip", "netns", "exec", netns.name, "curl", "-fsS", "http://127.0.0.1:8000/healthz"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout if result.returncode == 0 else f"curl failed: {result.stderr}"


def test_janus_comes_back_by_itself_and_the_web_server_stays_up(single_netns, tmp_path):
    env = _env(tmp_path, single_netns)
    manage = [sys.executable, "manage.py"]
    _in_netns(single_netns, [*manage, "migrate", "--noinput", "-v", "0"], env=env)
    _in_netns(single_netns, [*manage, "demo", "--if-empty"], env=env, capture_output=True)
    log = tmp_path / "supervisor.log"
    with log.open("wb") as out:
        supervisor = subprocess.Popen(  # noqa: S603
            ["ip", "netns", "exec", single_netns.name, sys.executable, "-m", "parloir.supervisor"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
    try:
        janus_pid = int(_wait_line(log, r"started janus \(pid (\d+)\)", 1)[0])
        web_pid = int(_wait_line(log, r"started web \(pid (\d+)\)", 1)[0])
        _wait_line(log, r"Listening on TCP address", 1)
        assert "curl failed" not in _healthz(single_netns)

        killed_at = time.monotonic()
        os.kill(janus_pid, signal.SIGKILL)
        restarted = _wait_line(log, r"started janus \(pid (\d+)\)", 2)
        back_after = time.monotonic() - killed_at
        assert int(restarted[1]) != janus_pid
        assert "janus exited with -9: restarting it in 1 s" in log.read_text()
        _wait_line(log, r"WebSockets thread started", 2)
        # The web server never stopped: the same process answers.
        assert re.findall(r"started web \(pid (\d+)\)", log.read_text()) == [str(web_pid)]
        assert "curl failed" not in _healthz(single_netns)
        assert back_after < 10
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(20)
        except subprocess.TimeoutExpired:
            supervisor.kill()
    assert "janus exited" in log.read_text()
