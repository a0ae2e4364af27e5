"""Several hosts on one machine: a network namespace per host, joined through a router.

Each host has one link to the router namespace (10.77.<n>.2/24, its gateway 10.77.<n>.1)
and nothing else: no route leads out of the topology. The router forwards only what the
firewall lets through (nftables, policy drop), so each host reaches exactly the ports a
production firewall would open (docs/deployment.md, "Firewall"). A "faults" chain,
evaluated first, lets a test cut a host off (its link silent, as a machine that died)
or drop a network's UDP.

Processes are started in a host with ``ip netns exec`` and die with the test run;
browsers are driven from a thread that entered the host's namespace (NetnsRunner).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.media.harness import (
    HarnessError,
    Netns,
    _delete_stale_namespaces,
    _die_with_parent,
    _ip,
    disable_ipv6,
)

PREFIX = "pmh"
ROUTER = "core"
FAULTS = "faults"


@dataclass(frozen=True)
class Host:
    name: str
    index: int
    netns: Netns

    @property
    def address(self) -> str:
        return f"10.77.{self.index}.2"

    @property
    def gateway(self) -> str:
        return f"10.77.{self.index}.1"


@dataclass(frozen=True)
class Flow:
    """One allowed flow: from a host to a host's port(s)."""

    source: str
    target: str
    proto: str
    ports: str  # "443" or "20000-20999"


@dataclass
class Proc:
    host: str
    name: str
    popen: subprocess.Popen
    log: Path
    argv: list[str] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


class Topology:
    def __init__(self, workdir: Path, hosts: list[str], flows: list[Flow]) -> None:
        self.workdir = workdir
        self.tag = f"{PREFIX}{os.getpid()}"
        self.router = Netns(f"{self.tag}-{ROUTER}")
        self.hosts = {
            name: Host(name, index, Netns(f"{self.tag}-{name}"))
            for index, name in enumerate(hosts, start=1)
        }
        self.flows = flows
        self.processes: dict[tuple[str, str], Proc] = {}
        (workdir / "logs").mkdir(parents=True, exist_ok=True)

    def host(self, name: str) -> Host:
        return self.hosts[name]

    def address(self, name: str) -> str:
        return self.hosts[name].address

    # --- the network -------------------------------------------------------------------

    def create(self) -> None:
        _delete_stale_namespaces(rf"{PREFIX}(\d+)-\w+")
        try:
            self._create()
        except BaseException:
            self.delete()
            raise

    def _create(self) -> None:
        router = self.router.name
        _ip("netns", "add", router)
        _ip("-n", router, "link", "set", "lo", "up")
        disable_ipv6(router)
        _sysctl(router, "net.ipv4.ip_forward=1")
        for host in self.hosts.values():
            ns = host.netns.name
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            disable_ipv6(ns)
            outside = f"r{host.index}"
            _ip("-n", router, "link", "add", outside, "type", "veth", "peer", "name", "eth0",
                "netns", ns)  # fmt: skip
            _ip("-n", router, "addr", "add", f"{host.gateway}/24", "dev", outside)
            _ip("-n", router, "link", "set", outside, "up")
            _ip("-n", ns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "route", "add", "default", "via", host.gateway)
        self._firewall()

    def _firewall(self) -> None:
        rules = []
        for flow in self.flows:
            source = self.address(flow.source)
            target = self.address(flow.target)
            rules.append(
                f"    ip saddr {source} ip daddr {target} {flow.proto} dport {flow.ports} accept"
            )
        text = (
            "table inet parloir_fw {\n"
            f"  chain {FAULTS} {{\n  }}\n"
            "  chain forward {\n"
            "    type filter hook forward priority 0; policy drop;\n"
            f"    jump {FAULTS}\n"
            "    ct state established,related accept\n"
            "    icmp type { echo-request, destination-unreachable } accept\n"
            + "\n".join(rules)
            + "\n  }\n}\n"
        )
        self._nft(text)

    def _nft(self, text: str, *args: str) -> None:
        argv = ["ip", "netns", "exec", self.router.name, "nft", *(args or ("-f", "-"))]
        result = subprocess.run(argv, input=text, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise HarnessError(f"nft failed: {result.stderr.strip()}\n{text}")

    def cut_off(self, name: str) -> None:
        """The host's link goes silent, both ways, established connections included: as a
        machine that died (no reset, no ICMP)."""
        address = self.address(name)
        for direction in ("saddr", "daddr"):
            self._nft("", "add", "rule", "inet", "parloir_fw", FAULTS, "ip", direction,
                      address, "drop")  # fmt: skip

    def drop_udp(self, name: str) -> None:
        """The host's network lets no UDP through (a family network that only lets the web
        out): media must go through TURN over TLS on 443."""
        address = self.address(name)
        for direction in ("saddr", "daddr"):
            self._nft("", "add", "rule", "inet", "parloir_fw", FAULTS, "ip", direction,
                      address, "meta", "l4proto", "udp", "drop")  # fmt: skip

    def heal(self) -> None:
        self._nft("", "flush", "chain", "inet", "parloir_fw", FAULTS)

    def delete(self) -> None:
        for proc in list(self.processes.values()):
            _stop(proc.popen, signal.SIGKILL)
        for host in self.hosts.values():
            host.netns.delete()
        self.router.delete()

    # --- processes ---------------------------------------------------------------------

    def spawn(
        self,
        host: str,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> Proc:
        log = self.workdir / "logs" / f"{host}-{name}.log"
        prefix = ["ip", "netns", "exec", self.hosts[host].netns.name]
        if user:
            prefix += ["runuser", "-u", user, "--"]
        with log.open("ab") as out:
            popen = subprocess.Popen(  # noqa: S603
                [*prefix, *argv],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        proc = Proc(host, name, popen, log, argv)
        self.processes[(host, name)] = proc
        return proc

    def run(self, host: str, argv: list[str], *, env=None, cwd=None, user=None, timeout=120):
        prefix = ["ip", "netns", "exec", self.hosts[host].netns.name]
        if user:
            prefix += ["runuser", "-u", user, "--"]
        result = subprocess.run(  # noqa: S603
            [*prefix, *argv], env=env, cwd=cwd, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise HarnessError(
                f"{' '.join(argv)} on {host} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def stop(self, host: str, name: str, sig: int = signal.SIGTERM) -> float:
        """Stop a process (SIGKILL: as a crash); return when it died (time.monotonic())."""
        proc = self.processes.pop((host, name), None)
        if proc is not None:
            _stop(proc.popen, sig)
        return time.monotonic()

    def wait_log(self, host: str, name: str, pattern: str, timeout: float = 30, count: int = 1):
        proc = self.processes[(host, name)]
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            found = re.findall(pattern, proc.log.read_text(errors="replace"))
            if len(found) >= count:
                return found
            if not proc.alive:
                break
            time.sleep(0.05)
        raise HarnessError(f"{host}/{name}: no {pattern!r}:\n{self.tail(host, name)}")

    def log_size(self, host: str, name: str) -> int:
        log = self.workdir / "logs" / f"{host}-{name}.log"
        return log.stat().st_size if log.exists() else 0

    def since(self, host: str, name: str, offset: int, limit: int = 200) -> str:
        """What ``host``/``name`` logged after ``offset`` bytes, its last ``limit`` lines."""
        log = self.workdir / "logs" / f"{host}-{name}.log"
        if not log.exists():
            return "(no log)"
        with log.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-limit:])

    def tail(self, host: str, name: str, lines: int = 60) -> str:
        log = self.workdir / "logs" / f"{host}-{name}.log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _stop(popen: subprocess.Popen, sig: int) -> None:
    if popen.poll() is not None:
        return
    try:
        # `ip netns exec` execs the program: the pid is the program's.
        popen.send_signal(sig)
        popen.wait(15)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(5)


def _sysctl(netns: str, setting: str) -> None:
    _ip("netns", "exec", netns, "sysctl", "-qw", setting)


def require_tools() -> None:
    missing = [tool for tool in ("ip", "nft", "haproxy", "janus", "turnserver", "redis-server",
                                 "certutil", "runuser") if shutil.which(tool) is None]  # fmt: skip
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        missing.append("postgres (apt-get install postgresql)")
    if missing:
        raise HarnessError(f"The multi-host tests need: {', '.join(missing)}")
