"""Real telephony peers for the tests, on loopback: Kannel with its fake SMSC, an SMPP
SMSC (npm `smpp`), baresip as the called party. Configuration comes from the templates
in deploy/; ports are picked free; everything stops with the test.

A missing program fails the test with the package to install: these tests are the only
proof that the gateways work, so they never skip.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest

from notify import kannel

ROOT = Path(__file__).resolve().parents[2]
SMSC_DIR = Path(__file__).resolve().parent / "smsc"
BARESIP_TEMPLATES = ROOT / "deploy" / "baresip"


def require(program: str, package: str) -> str:
    path = program if os.path.isabs(program) else shutil.which(program)
    if not path or not os.path.exists(path):
        pytest.fail(f"{program} is missing: apt-get install {package}", pytrace=False)
    return path


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports are drawn below the kernel's ephemeral range: a port found with bind(0) comes from
# that range, and once released it may go to any outgoing connection before the peer
# binds it (baresip, given a port free for UDP, once found its TCP side taken that way).
_PORTS = range(10000, _ephemeral_floor())
_draw = random.Random()


def _bindable(port: int, kinds: tuple[int, ...]) -> bool:
    sockets = []
    try:
        for kind in kinds:
            s = socket.socket(socket.AF_INET, kind)
            sockets.append(s)
            s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    """A port free for both TCP and UDP (SIP peers listen on both)."""
    for _ in range(200):
        port = _draw.choice(_PORTS)
        if _bindable(port, (socket.SOCK_STREAM, socket.SOCK_DGRAM)):
            return port
    raise RuntimeError("no free port")


def free_udp_range(size: int) -> tuple[int, int]:
    """``size`` consecutive free UDP ports (for RTP), found by binding them all."""
    for _ in range(200):
        start = _draw.choice(_PORTS[: -size - 1]) & ~1
        if all(_bindable(port, (socket.SOCK_DGRAM,)) for port in range(start, start + size)):
            return start, start + size - 1
    raise RuntimeError("no free UDP port range")


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no orphans after a crash


class Peer:
    """A program whose output lines are kept and can be waited for."""

    def __init__(self, name: str, argv: list[str], workdir: Path, stdin: bool = False) -> None:
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._stdin = stdin
        self.process: subprocess.Popen | None = None

    def start(self, ready: str | None = None, timeout: float = 15) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if self._stdin else subprocess.DEVNULL,
            cwd=self.workdir,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        threading.Thread(target=self._read, daemon=True).start()
        if ready is not None:
            self.wait_for(ready, timeout)

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                with self._cond:
                    self.lines.append(line)
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(
        self, match: str | Callable[[str], bool], timeout: float = 15, *, after: int = 0
    ) -> str:
        """The first output line (from index ``after``) containing ``match`` or passing it."""
        test = match if callable(match) else (lambda line: match in line)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[after:]:
                    if test(line):
                        return line
                remaining = deadline - time.monotonic()
                exited = self.process is not None and self.process.poll() is not None
                if remaining <= 0 or exited:
                    state = f"exited with {self.process.returncode}" if exited else "running"
                    tail = "\n".join(self.lines[-30:])
                    raise AssertionError(
                        f"{self.name} ({state}) printed no line matching {match!r} "
                        f"within {timeout} s; last lines:\n{tail}"
                    )
                self._cond.wait(remaining)

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def send(self, line: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class KannelPeers:
    """bearerbox + smsbox + fakesmsc, configured by notify.kannel from deploy/kannel/."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.username = "parloir"
        self.password = "test-sendsms-password"
        self.smsc_port = free_port()
        self.config = kannel.KannelConfig(
            username=self.username,
            password=self.password,
            admin_port=free_port(),
            smsbox_port=free_port(),
            sendsms_port=free_port(),
            smsc_port=self.smsc_port,
            log_dir=workdir / "log",
            store_file=workdir / "store",
            smsc_kind="fake",
        )
        self.sendsms_url = f"http://127.0.0.1:{self.config.sendsms_port}/cgi-bin/sendsms"
        self.bearerbox: Peer | None = None
        self.smsbox: Peer | None = None
        self.fakesmsc: Peer | None = None

    def start(self) -> None:
        require("bearerbox", "kannel")
        require("smsbox", "kannel")
        fakesmsc = require(kannel.FAKESMSC, "kannel-extras")
        path = kannel.render(self.config, self.workdir / "kannel.conf")
        self.bearerbox = Peer("bearerbox", ["bearerbox", str(path)], self.workdir)
        self.bearerbox.start(ready="Start-up done")
        self.smsbox = Peer("smsbox", ["smsbox", str(path)], self.workdir)
        self.smsbox.start(ready="Connected to bearerbox")
        self.start_fakesmsc(fakesmsc)

    def start_fakesmsc(self, program: str = kannel.FAKESMSC) -> None:
        assert self.bearerbox is not None
        mark = self.bearerbox.mark()
        self.fakesmsc = Peer(
            "fakesmsc",
            [program, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-m", "0", "0 0 text x"],
            self.workdir,
        )
        self.fakesmsc.start()
        self.bearerbox.wait_for("Fakesmsc client connected", after=mark)

    def received(self, timeout: float = 10, after: int = 0) -> tuple[str, str, str]:
        """(sender, receiver, text) of a message that reached the fake SMSC."""
        assert self.fakesmsc is not None
        line = self.fakesmsc.wait_for("Got message", timeout, after=after)
        body = line.split(": <", 1)[1].rsplit(">", 1)[0]
        sender, receiver, kind, data = body.split(" ", 3)
        if kind in ("ucs2", "ucs-2"):
            text = unquote_to_bytes(data.replace("+", " ")).decode("utf-16-be")
        elif kind == "data":
            text = unquote_to_bytes(data.replace("+", " ")).decode("latin-1")
        else:
            text = data
        return sender, receiver, text

    def stop(self) -> None:
        for peer in (self.fakesmsc, self.smsbox, self.bearerbox):
            if peer is not None:
                peer.stop()


class Smsc:
    """The npm `smpp` server in tests/telephony/smsc (server.js)."""

    def __init__(self, workdir: Path, system_id: str = "parloir", password: str = "secret") -> None:
        self.workdir = workdir
        self.system_id = system_id
        self.password = password
        self.peer: Peer | None = None
        self.port = 0

    def start(self) -> None:
        node = require("node", "nodejs")
        if not (SMSC_DIR / "node_modules" / "smpp").is_dir():
            npm = require("npm", "npm")
            subprocess.run(  # noqa: S603
                [npm, "ci", "--no-audit", "--no-fund"], cwd=SMSC_DIR, check=True, timeout=300
            )
        self.peer = Peer(
            "smsc",
            [node, str(SMSC_DIR / "server.js"), self.system_id, self.password],
            self.workdir,
            stdin=True,
        )
        self.peer.start()
        self.port = self.event("listening")["port"]

    def event(self, kind: str, timeout: float = 10, after: int = 0, **match) -> dict:
        assert self.peer is not None

        def test(line: str) -> bool:
            try:
                event = json.loads(line)
            except ValueError:
                return False
            return event.get("event") == kind and all(event.get(k) == v for k, v in match.items())

        return json.loads(self.peer.wait_for(test, timeout, after=after))

    def events(self, kind: str, after: int = 0) -> list[dict]:
        assert self.peer is not None
        found = []
        for line in self.peer.lines[after:]:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == kind:
                found.append(event)
        return found

    def command(self, **command) -> None:
        assert self.peer is not None
        mark = self.peer.mark()
        self.peer.send(json.dumps(command))
        if command["cmd"] != "drop":
            self.event("ok", after=mark, cmd=command["cmd"])
        else:
            self.event("drop", after=mark)

    def stop(self) -> None:
        if self.peer is not None:
            self.peer.stop()


class Baresip:
    """baresip answering (or ringing, or refusing) at sip:<user>@127.0.0.1:<port>, recording
    what it hears."""

    def __init__(
        self,
        workdir: Path,
        *,
        user: str = "+33251421100",
        answermode: str = "auto",
        max_calls: int = 4,
    ) -> None:
        self.workdir = workdir
        self.user = user
        self.answermode = answermode
        self.max_calls = max_calls
        self.port = free_port()
        self.console_port = free_port()
        self.record_dir = workdir / "recordings"
        self.peer: Peer | None = None

    def start(self) -> None:
        baresip = require("baresip", "baresip")
        require("sox", "sox")
        module_path = Path("/usr/lib/baresip/modules")
        if not (module_path / "sndfile.so").exists():
            pytest.fail("baresip's modules are missing: apt-get install baresip", pytrace=False)
        config_dir = self.workdir / "baresip"
        config_dir.mkdir(parents=True, exist_ok=True)
        self.record_dir.mkdir(parents=True, exist_ok=True)
        silence = self.workdir / "silence.wav"
        subprocess.run(  # noqa: S603
            ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(silence), "trim", "0", "600"],
            check=True,
        )
        low, high = free_udp_range(16)
        values = {
            "listen": f"127.0.0.1:{self.port}",
            "silence": str(silence),
            "rtp_ports": f"{low}-{high}",
            "max_calls": str(self.max_calls),
            "module_path": str(module_path),
            "record_dir": str(self.record_dir),
            "user": self.user,
            "port": str(self.port),
            "answermode": self.answermode,
            "codecs": "pcmu,pcma",
            "cons_listen": f"127.0.0.1:{self.console_port}",
        }
        for name in ("config", "accounts"):
            template = (BARESIP_TEMPLATES / f"{name}.tmpl").read_text()
            (config_dir / name).write_text(string.Template(template).substitute(values))
        (config_dir / "contacts").write_text("")
        self.peer = Peer("baresip", [baresip, "-f", str(config_dir)], self.workdir)
        self.peer.start(ready="baresip is ready.")

    def answered(self, after: int = 0, timeout: float = 30) -> None:
        """Wait until baresip has answered a call (after output line ``after``)."""
        assert self.peer is not None
        self.peer.wait_for("Call established", timeout, after=after)

    def press(self, key: str) -> None:
        """Press a key of the phone during the call: baresip sends it as an RFC 4733 event."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as console:
            console.sendto(key.encode(), ("127.0.0.1", self.console_port))

    def recording(self, after: int = 0, timeout: float = 30) -> tuple[bytes, int]:
        """Samples (and rate) of what baresip heard in the call that ended after ``after``."""
        assert self.peer is not None
        self.peer.wait_for(lambda line: re.search(r"terminated \(duration", line), timeout,
                           after=after)  # fmt: skip
        files = sorted(self.record_dir.glob("*-dec.wav"), key=lambda p: p.stat().st_mtime)
        assert files, f"baresip recorded nothing in {self.record_dir}"
        with wave.open(str(files[-1])) as recorded:
            frames = recorded.readframes(recorded.getnframes())
            return frames, recorded.getframerate()

    def stop(self) -> None:
        if self.peer is not None:
            self.peer.stop()
