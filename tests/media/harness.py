"""A real Janus in a private network namespace, and a way to run test code inside it.

Why a namespace: Janus never offers loopback candidates, so media tests need a
non-loopback address; inside a namespace of our own (loopback plus a veth pair
whose two ends both stay inside) there is one, and no packet can leave it.

Why a thread rather than a subprocess for the client side: a network namespace
is a per-thread attribute on Linux, and every socket stays in the namespace of
the thread that created it. So one thread that calls setns(2) and then runs an
asyncio loop puts the Janus client, the admin client and the aiortc peers
(aioice lists the thread's interfaces and binds there) inside the namespace,
while the test itself keeps plain Python objects, exceptions and tracebacks,
and the pytest process stays in the host namespace. Python 3.11 has no
os.setns, hence ctypes. Threads started from that thread inherit its
namespace, so executors created by its loop stay inside too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import gc
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from media.config import JanusNodeConfig, TurnConfig, render_janus, render_turn

T = TypeVar("T")

NETNS_PREFIX = "parloir-t"
NETNS_DIR = Path("/var/run/netns")
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1


class HarnessError(RuntimeError):
    """The test machine cannot run the media tests (they fail rather than skip)."""


def check_prerequisites() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces)")
    for tool in ("ip", "ss", "janus", "turnserver"):
        if shutil.which(tool) is None:
            problems.append(f"`{tool}` not found on PATH (apt-get install iproute2 janus coturn)")
    if problems:
        raise HarnessError("Media tests cannot run: " + "; ".join(problems))


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")


def disable_ipv6(netns_name: str) -> None:
    for key in ("all", "default"):
        _ip("netns", "exec", netns_name, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1")


class Netns:
    """A named network namespace with lo up and one address on a veth pair."""

    def __init__(self, name: str, address: str = "10.99.0.1") -> None:
        self.name = name
        self.address = address
        self.path = NETNS_DIR / name

    def create(self) -> None:
        _delete_stale_namespaces()
        _ip("netns", "add", self.name)
        try:
            _ip("-n", self.name, "link", "set", "lo", "up")
            # The dummy link type is unavailable here; a veth pair with both ends
            # inside gives the same: an interface that is up and not loopback.
            _ip("-n", self.name, "link", "add", "jd0", "type", "veth", "peer", "name", "jd1")
            _ip("-n", self.name, "addr", "add", f"{self.address}/32", "dev", "jd0")
            _ip("-n", self.name, "link", "set", "jd0", "up")
            _ip("-n", self.name, "link", "set", "jd1", "up")
            # Without IPv6 the only non-loopback address is ours, so aioice (which
            # gathers on every interface) and Janus agree on it without patching.
            disable_ipv6(self.name)
        except BaseException:
            self.delete()
            raise

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, check=False)

    def drop_udp(self, ports: list[int], *, all_but: bool = False) -> None:
        """Drop every UDP packet to or from ``ports`` (or, with ``all_but``, every UDP
        packet but those) in this namespace (nftables): a network that stops a browser's
        media mid-call and lets its WebSocket through."""
        listed = ", ".join(str(port) for port in ports)
        if all_but:
            rule = f"    udp sport != {{ {listed} }} udp dport != {{ {listed} }} drop\n"
        else:
            rule = f"    udp sport {{ {listed} }} drop\n    udp dport {{ {listed} }} drop\n"
        self._filter_output(rule)

    def lose_udp(self, percent: int) -> None:
        """Drop about ``percent`` % of the UDP packets sent in this namespace, at random:
        a lossy link (this kernel has no netem). Undone by allow_udp()."""
        self._filter_output(f"    meta l4proto udp numgen random mod 100 < {percent} drop\n")

    def _filter_output(self, rule: str) -> None:
        if shutil.which("nft") is None:
            raise HarnessError("`nft` not found (apt-get install nftables)")
        rules = (
            f"table inet {CUT_TABLE} {{\n"
            "  chain out {\n"
            "    type filter hook output priority 0; policy accept;\n"
            f"{rule}"
            "  }\n"
            "}\n"
        )
        result = subprocess.run(
            ["ip", "netns", "exec", self.name, "nft", "-f", "-"],
            input=rules,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise HarnessError(f"nft in {self.name} failed: {result.stderr.strip()}")

    def allow_udp(self) -> None:
        """Undo drop_udp() or lose_udp()."""
        subprocess.run(
            ["ip", "netns", "exec", self.name, "nft", "delete", "table", "inet", CUT_TABLE],
            capture_output=True,
            check=False,
        )


CUT_TABLE = "parloir_cut"


def _delete_stale_namespaces(pattern: str = r"parloir-[a-z]+(\d+)") -> None:
    """Remove namespaces left by test runs that were killed before their teardown: those
    whose name matches ``pattern`` and whose first group, a pid, is no longer running."""
    if not NETNS_DIR.is_dir():
        return
    for entry in NETNS_DIR.iterdir():
        match = re.fullmatch(pattern, entry.name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            subprocess.run(["ip", "netns", "delete", entry.name], capture_output=True, check=False)


_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(path: Path) -> None:
    """Move the calling thread (only) into the namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise HarnessError(f"setns({path}) failed: {os.strerror(errno)}")
    finally:
        os.close(fd)


class NetnsRunner:
    """Runs coroutines on an asyncio loop, and blocking calls on a thread, inside a netns."""

    def __init__(self, netns: Netns) -> None:
        self.netns = netns
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"netns {netns.name}", daemon=True)
        self._blocking = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, initializer=enter_netns, initargs=(netns.path,)
        )

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        try:
            enter_netns(self.netns.path)
        except (HarnessError, OSError) as exc:
            self._error = exc
            self._started.set()
            return
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coro`` inside the namespace and return its result (or raise its error)."""

        async def outcome() -> tuple[bool, Any]:
            # Crossing threads through run_coroutine_threadsafe replaces a TimeoutError
            # by a new one without its traceback; carry the original across instead.
            try:
                return True, await coro
            except Exception as exc:  # noqa: BLE001 (re-raised below, in the test's thread)
                return False, exc

        future = asyncio.run_coroutine_threadsafe(outcome(), self.loop)
        done, _ = concurrent.futures.wait([future], timeout)
        if not done:
            future.cancel()
            raise TimeoutError(f"Coroutine still running in {self.netns.name} after {timeout} s")
        ok, value = future.result()
        if not ok:
            raise value
        return value

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 60) -> T:
        """Run a blocking function (that may start its own event loop) inside the namespace."""
        return self._blocking.submit(fn, *args).result(timeout)

    def stop(self) -> None:
        self._blocking.shutdown(wait=False, cancel_futures=True)

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            with_timeout = asyncio.run_coroutine_threadsafe(cancel_all(), self.loop)
            try:
                with_timeout.result(10)
                # Its threads hold database connections (the health checker's queries):
                # ended here, they close them, rather than keep sessions on the test
                # database while pytest-django drops it.
                asyncio.run_coroutine_threadsafe(
                    self.loop.shutdown_default_executor(), self.loop
                ).result(10)
            except (concurrent.futures.TimeoutError, RuntimeError):
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        # Connections left by ended threads sit in reference cycles until collected.
        gc.collect()


@contextmanager
def private_netns(prefix: str = NETNS_PREFIX) -> Iterator[Netns]:
    """A fresh namespace for this process, deleted on exit (raises HarnessError if
    the machine cannot make one)."""
    check_prerequisites()
    namespace = Netns(f"{prefix}{os.getpid()}")
    namespace.create()
    try:
        yield namespace
    finally:
        namespace.delete()


@contextmanager
def running_in(netns: Netns) -> Iterator[NetnsRunner]:
    """A started NetnsRunner, stopped on exit."""
    runner = NetnsRunner(netns)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def _die_with_parent() -> None:
    # A server left running after pytest was killed would keep the namespace busy.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class NetnsProcess:
    """A server started in the namespace, its output copied to a log, ready when it
    prints ``ready_line``."""

    program = ""
    ready_line = ""

    def __init__(self, netns: Netns, workdir: Path) -> None:
        self.netns = netns
        self.workdir = workdir
        self.log_path = workdir / f"{self.program}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _prepare(self) -> list[str]:
        """Write the configuration; return the program's arguments."""
        raise NotImplementedError

    def start(self, timeout: float = 15) -> None:
        arguments = self._prepare()
        # Some servers write into their working directory: keep that inside workdir.
        (self.workdir / "cwd").mkdir(exist_ok=True)
        ready = threading.Event()
        self.process = subprocess.Popen(  # noqa: S603
            ["ip", "netns", "exec", self.netns.name, self.program, *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir / "cwd",
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        self._log_thread = threading.Thread(
            target=self._copy_log, args=(self.process, ready), daemon=True
        )
        self._log_thread.start()
        # The log thread also sets the event when the process exits, so this returns early.
        ready.wait(timeout)
        if not self.alive or not ready.is_set():
            self.kill()
            raise HarnessError(
                f"{self.program} did not start within {timeout} s:\n{self.log_tail()}"
            )

    def _copy_log(self, process: subprocess.Popen[bytes], ready: threading.Event) -> None:
        assert process.stdout is not None
        with self.log_path.open("ab") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                if self.ready_line.encode() in line:
                    ready.set()
        ready.set()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> float:
        """SIGKILL, as a crash would; return the time it died (time.monotonic())."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        died = time.monotonic()
        if self._log_thread is not None:
            self._log_thread.join(5)
        return died

    def freeze(self) -> None:
        """SIGSTOP: the sockets stay open but nothing answers, like a hung process."""
        if self.process is None or self.process.poll() is not None:
            # Popen.send_signal would do nothing, and the test would blame the client.
            raise HarnessError(f"{self.program} is not running: it cannot be frozen")
        self.process.send_signal(signal.SIGSTOP)
        # kill() returns before every thread has stopped: wait until all of them have,
        # or a request sent at once may still be answered.
        tasks = Path(f"/proc/{self.process.pid}/task")
        for _ in range(200):
            states = []
            for task in tasks.iterdir():
                try:
                    stat = (task / "stat").read_text()
                except OSError:
                    continue  # a thread that ended meanwhile
                states.append(stat.rsplit(")", 1)[1].split()[0])
            if states and all(state in ("T", "t") for state in states):
                return
            time.sleep(0.01)
        raise HarnessError(f"{self.program} did not stop within 2 s of SIGSTOP")

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.kill()


class JanusProcess(NetnsProcess):
    """A Janus started in the namespace with the configuration our generator writes.

    A room without rec_dir would be recorded into ``workdir/cwd``, where tests look.
    """

    program = "janus"
    # Printed once both WebSocket servers listen and their thread runs.
    ready_line = "WebSockets thread started"

    def __init__(
        self,
        netns: Netns,
        workdir: Path,
        *,
        name: str = "test-node",
        ws_port: int = 8188,
        admin_ws_port: int = 7188,
        rtp_port_range: str = "20000-29999",
        reclaim_session_timeout: int = 30,
        session_timeout: int = 60,
        event_loops: int | None = None,
    ) -> None:
        super().__init__(netns, workdir)
        self.config_dir = workdir / "etc"
        self.recording_dir = workdir / "recordings"
        self.admin_secret = secrets.token_urlsafe(16)
        self.room_admin_key = secrets.token_urlsafe(16)
        self.ws_url = f"ws://127.0.0.1:{ws_port}"
        self.admin_ws_url = f"ws://127.0.0.1:{admin_ws_port}"
        self.config = JanusNodeConfig(
            node_name=name,
            admin_secret=self.admin_secret,
            room_admin_key=self.room_admin_key,
            recording_dir=self.recording_dir,
            ws_port=ws_port,
            admin_ws_port=admin_ws_port,
            ice_enforce_list=netns.address,
            interface=netns.address,
            rtp_port_range=rtp_port_range,
            reclaim_session_timeout=reclaim_session_timeout,
            session_timeout=session_timeout,
            **({"event_loops": event_loops} if event_loops else {}),
        )

    def _prepare(self) -> list[str]:
        render_janus(self.config, self.config_dir)
        self.recording_dir.mkdir(parents=True, exist_ok=True)
        return ["-F", str(self.config_dir), "-C", str(self.config_dir / "janus.jcfg")]


class TurnProcess(NetnsProcess):
    """coturn in the namespace, configured by our generator, relaying to Janus only."""

    program = "turnserver"
    ready_line = "Total General servers"

    def __init__(self, netns: Netns, workdir: Path, *, port: int = 3478) -> None:
        super().__init__(netns, workdir)
        self.secret = secrets.token_urlsafe(16)
        self.url = f"turn:{netns.address}:{port}?transport=udp"
        self.config = TurnConfig(
            node_name="test-node",
            secret=self.secret,
            realm="parloir.test",
            userdb=workdir / "turndb",
            allowed_peer_ips=(netns.address,),
            port=port,
            listening_ip=netns.address,
            relay_ip=netns.address,
            min_port=40000,
            max_port=40999,
            pidfile=workdir / "turnserver.pid",
        )

    def _prepare(self) -> list[str]:
        return ["-c", str(render_turn(self.config, self.workdir / "etc"))]
