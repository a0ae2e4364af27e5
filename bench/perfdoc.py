"""Shared by the benchmarks: percentiles, the machine's description, a process's CPU time,
and replacing one section of docs/performance.md while leaving the others as they are."""

from __future__ import annotations

import math
import os
import platform
import re
import signal
import subprocess
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE_MD = ROOT / "docs" / "performance.md"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: with 20 samples, p95 is the 19th)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value * 1000:.0f} ms"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, Linux {platform.release()}"


def thread_cpu_ns(pid: int) -> dict[int, int]:
    """CPU time of each thread of ``pid``, in nanoseconds (schedstat): the clock-tick
    counts of /proc/PID/stat (10 ms) made a 5 s idle sample of a nearly idle Janus swing
    by 0.2 % of a core, a fifth of its goal per call."""
    times = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            times[int(task.name)] = int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
    return times


def program_pid(started_pid: int, name: str) -> int:
    """The pid of ``name`` started as ``started_pid`` (`ip netns exec` execs the program,
    so it is usually that pid itself; otherwise one of its descendants)."""
    import psutil

    process = psutil.Process(started_pid)
    if process.name() == name:
        return started_pid
    for child in process.children(recursive=True):
        if child.name() == name:
            return child.pid
    raise RuntimeError(f"no {name} process under pid {started_pid}")


class CpuWindow:
    """A process's CPU from the moment this is made: ``percent()`` gives it as % of one
    core, or None when a thread ended meanwhile (its time is lost with it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = thread_cpu_ns(pid)
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def percent(self) -> float | None:
        after = thread_cpu_ns(self.pid)
        elapsed = self.elapsed()
        if not self.before.keys() <= after.keys():
            return None
        busy = sum(after[tid] - self.before.get(tid, 0) for tid in after) / 1e9
        return 100 * busy / elapsed


_PING_PONG = """
import os, sys, time
a, b, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
there_r, there_w = os.pipe()
back_r, back_w = os.pipe()
if os.fork() == 0:
    os.sched_setaffinity(0, {b})
    while os.read(there_r, 1) == b"x":
        os.write(back_w, b"x")
    os._exit(0)
os.sched_setaffinity(0, {a})
best = None
for _ in range(3):
    started = time.perf_counter()
    for _ in range(rounds):
        os.write(there_w, b"x")
        os.read(back_r, 1)
    took = (time.perf_counter() - started) / rounds
    best = took if best is None else min(best, took)
os.write(there_w, b"q")
print(best * 1e6)
"""


def wake_up_round_trip_us(first_cpu: int, second_cpu: int, rounds: int = 3000) -> float | None:
    """Microseconds for a process to wake another through a pipe and be woken back, the
    two pinned to these CPUs. Janus's cost is mostly such wake-ups (a thread sleeping in
    poll() woken by a packet), and what one costs depends on the machine far more than on
    its CPU's speed: on a virtual machine, waking an idle virtual CPU can take ten times
    as long as a switch on the same CPU. The benchmarks print it so that their CPU figures
    can be compared between machines."""
    if max(first_cpu, second_cpu) >= (os.cpu_count() or 1):
        return None
    import sys

    try:
        out = subprocess.run(
            [sys.executable, "-c", _PING_PONG, str(first_cpu), str(second_cpu), str(rounds)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return float(out.stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def wake_up_costs() -> str:
    """The machine's wake-up round trips, one CPU and across two, as a sentence."""
    same = wake_up_round_trip_us(0, 0)
    across = wake_up_round_trip_us(0, 1)
    if same is None:
        return "wake-up round trip between two processes: unknown"
    text = (
        "wake-up round trip between two processes (a pipe, bench/perfdoc.py) "
        f"{same:.0f} µs on one CPU"
    )
    if across is not None:
        text += f", {across:.0f} µs across two"
    return text


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


def rewrap(body: str, width: int = 90) -> str:
    """Fill the prose paragraphs of ``body``; tables, lists and code stay as they are."""
    blocks = []
    for block in re.split(r"\n\s*\n", body.strip()):
        lines = block.splitlines()
        if any(line.lstrip().startswith(("|", "- ", "```", "#")) for line in lines):
            blocks.append(block)
        else:
            blocks.append(textwrap.fill(" ".join(line.strip() for line in lines), width))
    return "\n\n".join(blocks)


def replace_section(heading: str, body: str, path: Path = PERFORMANCE_MD) -> None:
    """Replace ``## heading`` (up to the next ``## ``) with ``body``, or append it."""
    text = path.read_text() if path.exists() else "# Performance\n"
    section = f"## {heading}\n\n{rewrap(body)}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


class Interrupted(BaseException):
    """SIGTERM, SIGINT or the run's own deadline: unwinds through every cleanup."""


NICE_HELP = (
    "niceness for this run and the servers it starts (e.g. -10 on a machine shared with "
    "other work, so that the numbers approach a dedicated server's; recorded in the results)"
)


def bound_run(max_seconds: int, nice: int = 0) -> None:
    """Turn SIGTERM/SIGINT and a deadline (SIGALRM) into an exception in the main
    thread, so that the ``finally`` blocks stop the servers and delete the namespace.
    ``nice`` changes this process's priority, which the servers it starts inherit."""
    if nice:
        os.nice(nice)

    def stop(signum: int, _frame) -> None:
        raise Interrupted(
            f"deadline of {max_seconds} s reached"
            if signum == signal.SIGALRM
            else f"signal {signal.Signals(signum).name}"
        )

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(signum, stop)
    signal.alarm(max_seconds)


def publish(heading: str, printed: str, body: str | None) -> None:
    """End of a run: lift the deadline, print the results, and write ``body`` (when
    given) as the section ``heading`` of docs/performance.md."""
    signal.alarm(0)
    print()
    print(printed)
    if body is not None:
        replace_section(heading, body)
        print(f"docs/performance.md: section “{heading}” updated")
