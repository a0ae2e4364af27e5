"""Call set-up at the top of the hour across the multi-host deployment: N calls at once.

    .venv/bin/python bench/bench_multihost.py               # 20 calls, 3 rounds
    .venv/bin/python bench/bench_multihost.py --calls 10 --rounds 1 --no-doc
    .venv/bin/python bench/bench_multihost.py --nice -10    # on a machine shared with other work

The deployment of the multi-host tests (tests/multihost/deployment.py: HAProxy with TLS,
two web hosts with every worker, PostgreSQL and Redis on their host, two Janus nodes over
wss with their agents, coturn), each host in its network namespace behind a firewalled
router. N kiosks on the prison's network sign in, then all press "Appeler" in the same
instant; N relatives on the family's network answer each code the moment it is sent
(from the SMS link: the code page, both consents, the call page). Kiosks and relatives
are synthetic (bench/multihost_clients.py: the docs' clients, through HTTPS, the call
WebSocket, ICE and DTLS; pre-encoded media, nothing encoded, nothing decoded). Per call:
from "Appeler" to the first complete video keyframe received on each side. Goal (issue
16): 20 calls all live within 2 s at p95 on this machine's two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.perfdoc import (  # noqa: E402
    NICE_HELP,
    Interrupted,
    bound_run,
    machine,
    percentile,
    publish,
)

SECTION = "Call set-up across several hosts (bench_multihost.py)"
ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "bench" / "multihost_clients.py"


@dataclass
class Round:
    setups: list[float]  # per call: "Appeler" to the later side's first frame
    kiosk: list[float]  # "Appeler" to the kiosk's first frame
    relative: list[float]  # "Appeler" to the relative's first frame
    failures: list[str]
    web_cpu: float  # CPU seconds of the web hosts' processes over the round
    janus_cpu: float  # CPU seconds of both Janus over the round
    clients_cpu: float  # CPU seconds of the synthetic kiosks and relatives
    wall: float  # seconds from "Appeler" to the last client's end
    steps: dict  # per step of the set-up: seconds from "Appeler", per call
    # CPU seconds in the first WINDOW seconds after "Appeler": web tier, Janus, load
    # generator, the deployment's other processes (PostgreSQL with its backends, Redis,
    # HAProxy, coturn, the agents), the recordings' tools (the last round's calls being
    # composed), and the whole machine (all cores)
    window: list[float]
    web_by_process: dict[str, float]  # CPU seconds over the round: daphne, each worker
    # The same six as ``window``, from "Appeler" until the last call was live, and how long
    # that was (the first item)
    setup_span: list[float]
    # The calls live more than twice as late as the round's median, each with the time of
    # every step: where a slow set-up waited
    late: list[str]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a running process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pids(deployment, hosts: tuple[str, ...], names: tuple[str, ...] | None = None) -> list[int]:
    return [
        proc.popen.pid
        for (host, name), proc in deployment.net.processes.items()
        if host in hosts and (names is None or name in names) and proc.alive
    ]


def _with_descendants(pids: list[int]) -> list[int]:
    """``pids`` and every process below them (PostgreSQL's backends, for one)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(parents.get(pid, []))
    return sorted(found)


def _by_process(deployment, hosts: tuple[str, ...]) -> dict[str, float]:
    """CPU seconds so far of each named process of ``hosts``, both hosts' added up."""
    totals: dict[str, float] = {}
    for (host, name), proc in deployment.net.processes.items():
        if host in hosts and proc.alive:
            name = "daphne" if name == "web" else name
            totals[name] = totals.get(name, 0.0) + _cpu([proc.popen.pid])
    return totals


def idle_web_cpu(deployment, seconds: float = 6.0) -> dict[str, float]:
    """CPU seconds per second of each web-tier process with no call at all: the workers'
    polling, daphne's own timers."""
    before = _by_process(deployment, ("web1", "web2"))
    started = time.monotonic()
    time.sleep(seconds)
    after = _by_process(deployment, ("web1", "web2"))
    elapsed = time.monotonic() - started
    return {name: (after[name] - before.get(name, 0.0)) / elapsed for name in after}


WINDOW = 2.0


def _total_cpu() -> float:
    """CPU seconds the machine spent, all cores, since boot (but idle and waiting)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _tools_cpu(workers: list[int]) -> float:
    """CPU seconds of the recordings workers' tools (janus-pp-rec, ffmpeg): those that
    ended (their worker's children's time) and those still running."""
    total = 0.0
    for pid in workers:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    running = [pid for pid in _with_descendants(workers) if pid not in workers]
    return total + _cpu(running)


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def media_file(workdir: Path) -> Path:
    """30 s of 160x120 VP8 at 15 images/s and Opus: sent as it is by every client. A
    keyframe every 5 images: a browser answers Janus's keyframe request for a new
    subscriber at once, a file cannot, and would make every first frame wait for the
    next keyframe."""
    path = workdir / "media.webm"
    if not path.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=15",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "30",
             "-c:v", "libvpx", "-b:v", "150k", "-g", "5", "-deadline", "realtime",
             "-c:a", "libopus", "-b:a", "24k", str(path)],
            check=True,
        )  # fmt: skip
    return path


def _profile(deployment, folder: Path, index: int) -> list[subprocess.Popen]:
    """py-spy on every daphne for the set-up's first seconds: what their Python spent its
    time on, as collapsed stacks (one file per web host and round; needs py-spy)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(  # noqa: S603
            [
                "py-spy",
                "record",
                "--pid",
                str(proc.popen.pid),
                "--duration",
                "5",
                "--rate",
                "100",
                "--gil",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(folder / f"{host}-round{index}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for (host, name), proc in deployment.net.processes.items()
        if name == "web" and proc.alive
    ]


def one_round(
    deployment, workdir: Path, count: int, index: int, profile: Path | None = None
) -> Round:
    from tests.multihost.deployment import SITE

    calls = deployment.control("web1", "ready_calls", count=count)["calls"]
    spec = {
        "site": f"https://{SITE}",
        "site_name": SITE,
        "lb": deployment.address("lb"),
        "ca": str(deployment.ca.cert_path),
        "media": str(media_file(workdir)),
        "outbox": str(deployment.shared / "outbox.jsonl"),
        "calls": calls,
        "timeout": 60,
        "hold": 2,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    processes = {}
    for role, host in (("relatives", "family"), ("kiosks", "prison")):
        path = workdir / f"{role}-{index}.json"
        path.write_text(json.dumps(spec))
        process = subprocess.Popen(  # noqa: S603
            ["ip", "netns", "exec", deployment.net.host(host).netns.name, sys.executable,
             str(CLIENTS), role, str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env, cwd=ROOT,
        )  # fmt: skip
        line = process.stdout.readline()
        if not line.startswith('{"ready"'):
            raise RuntimeError(f"{role}: {line}{process.stderr.read()[-3000:]}")
        processes[role] = process
    web, janus = (
        _pids(deployment, ("web1", "web2")),
        _pids(deployment, ("media1", "media2"), ("janus",)),
    )
    others = _with_descendants(
        [
            proc.popen.pid
            for (host, _name), proc in deployment.net.processes.items()
            if host not in ("web1", "web2") and proc.popen.pid not in janus
        ]
    )
    web_before, janus_before = _cpu(web), _cpu(janus)
    by_process_before = _by_process(deployment, ("web1", "web2"))
    start_at = time.time() + 0.5
    processes["kiosks"].stdin.write(f"go {start_at}\n")
    processes["kiosks"].stdin.flush()
    profilers = _profile(deployment, profile, index) if profile else []
    # What every part asked of the two cores in the goal's first 2 s.
    clients = [p.pid for p in processes.values()]
    time.sleep(max(0.0, start_at - time.time()))
    recorders = _pids(deployment, ("web1", "web2"), ("recordings_worker",))

    def reading() -> tuple[float, ...]:
        return (
            _cpu(web), _cpu(janus), _cpu(clients), _cpu(others), _tools_cpu(recorders),
            _total_cpu(),
        )  # fmt: skip

    window_before = reading()
    before_at = time.time()
    time.sleep(WINDOW)
    window_after = reading()
    after_at = time.time()
    window = [after - before for before, after in zip(window_before, window_after, strict=True)]
    # And from "Appeler" until the last call is live, known only at the end: sampled.
    samples = [(before_at, *window_before), (after_at, *window_after)]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.1):
            samples.append((time.time(), *reading()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results: dict[int, dict] = {}
    failures = []
    for role, process in processes.items():
        out, err = process.communicate(timeout=240)
        for line in out.splitlines():
            if not line.startswith("{"):
                continue
            item = json.loads(line)
            if "error" in item:
                failures.append(f"{role}: {item['error']}")
            elif "call" in item:
                results.setdefault(item["call"], {}).update(item)
        if process.returncode != 0:
            failures.append(f"{role} exited {process.returncode}: {err[-2000:]}")
    wall = time.time() - start_at
    for profiler in profilers:
        profiler.wait(60)
    sampling.set()
    sampler.join()
    web_cpu, janus_cpu = _cpu(web) - web_before, _cpu(janus) - janus_before
    by_process = {
        name: cpu - by_process_before.get(name, 0.0)
        for name, cpu in _by_process(deployment, ("web1", "web2")).items()
    }
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    clients_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    setups, kiosk, relative = [], [], []
    steps: dict[str, list[float]] = {}
    complete: list[tuple[int, dict]] = []  # (call, its step times), to name the late ones
    for call, item in sorted(results.items()):
        if not {"appeler", "kiosk_frame", "relative_frame"} <= set(item):
            failures.append(f"call {call}: incomplete {sorted(item)}")
            continue
        kiosk.append(item["kiosk_frame"] - item["appeler"])
        relative.append(item["relative_frame"] - item["appeler"])
        setups.append(max(kiosk[-1], relative[-1]))
        marks = {
            f"{side} {step}": at - item["appeler"]
            for side in ("kiosk", "relative")
            for step, at in item.get(f"{side}_marks", {}).items()
        }
        for step, at in marks.items():
            steps.setdefault(step, []).append(at)
        complete.append((call, marks))
    late = [
        f"call {call}: {took:.2f} s; kiosk frame {k:.2f} s, relative frame {r:.2f} s; steps "
        f"{ {step: round(at, 2) for step, at in marks.items()} }"
        for (call, marks), took, k, r in zip(complete, setups, kiosk, relative, strict=True)
        if took > 2 * statistics.median(setups)
    ]
    setup_span = [0.0] * 7
    if setups:
        last_live = start_at + max(setups)
        begin = min(samples, key=lambda row: abs(row[0] - start_at))
        end = next((row for row in samples if row[0] >= last_live), samples[-1])
        setup_span = [end[0] - begin[0]] + [b - a for a, b in zip(begin[1:], end[1:], strict=True)]
    return Round(
        setups,
        kiosk,
        relative,
        failures,
        web_cpu,
        janus_cpu,
        clients_cpu,
        wall,
        steps,
        window,
        by_process,
        setup_span,
        late,
    )


def _p(values: list[float], fraction: float) -> str:
    return f"{percentile(values, fraction):.2f} s" if values else "–"


def table(rounds: list[Round], count: int) -> str:
    lines = [
        "| round | calls live | Appeler → both sides' first frame, p50 / p95 / max "
        "| kiosk, p95 | relative, p95 | web tier CPU per call | Janus CPU per call "
        "| load generator CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for index, r in enumerate(rounds, start=1):
        live = len(r.setups)
        lines.append(
            f"| {index} | {live}/{count} | {_p(r.setups, 0.5)} / {_p(r.setups, 0.95)} / "
            f"{max(r.setups):.2f} s | {_p(r.kiosk, 0.95)} | {_p(r.relative, 0.95)} | "
            f"{r.web_cpu / max(1, live):.2f} s | {r.janus_cpu / max(1, live):.2f} s | "
            f"{r.clients_cpu:.1f} s over {r.wall:.1f} s |"
            if r.setups
            else f"| {index} | 0/{count} | – | – | – | – | – | – |"
        )
    return "\n".join(lines)


STEP_ORDER = [
    "kiosk call_page", "relative code_seen", "kiosk welcome", "relative call_page",
    "relative welcome", "kiosk publish_answer", "relative publish_answer",
    "relative subscribe_offer", "kiosk subscribe_offer",
]  # fmt: skip


def breakdown(rounds: list[Round]) -> str:
    """When each step of the set-up happened, from "Appeler" (median over every call)."""
    merged: dict[str, list[float]] = {}
    for r in rounds:
        for step, values in r.steps.items():
            merged.setdefault(step, []).extend(values)
    parts = [
        f"{step} {statistics.median(merged[step]):.2f} s" for step in STEP_ORDER if merged.get(step)
    ]
    return 'Median time of each step from "Appeler": ' + "; ".join(parts) + "."


def window(rounds: list[Round]) -> str:
    """Who asked for the cores in the goal's first 2 s (median over the rounds)."""
    web, janus, clients, deployment, tools, total = (
        statistics.median(r.window[i] for r in rounds) for i in range(6)
    )
    cores = os.cpu_count() or 1
    rest = max(0.0, total - web - janus - clients - deployment - tools)
    return (
        f'In the first {WINDOW:.0f} s after "Appeler" the machine had {WINDOW * cores:.0f} '
        f"CPU-seconds ({cores} cores) and spent {total:.1f}: the load generator "
        f"{clients:.1f}, the web tier {web:.1f}, Janus {janus:.1f}, the deployment's other "
        f"processes (PostgreSQL and its backends, Redis, HAProxy, coturn, the agents) "
        f"{deployment:.1f}, the recordings' tools (composing the last round's calls) "
        f"{tools:.1f}, everything else (the kernel's networking, other work on the "
        f"machine) {rest:.1f}."
    )


def span_text(rounds: list[Round]) -> str:
    """Who had the cores from "Appeler" until the last call was live (median over the
    rounds): the load generator's own share among them."""
    spans = [r.setup_span for r in rounds if r.setup_span[0] > 0]
    if not spans:
        return ""
    # The round of median length, whole (medians taken part by part would not add up).
    seconds, web, janus, clients, deployment, tools, total = sorted(spans)[len(spans) // 2]
    cores = os.cpu_count() or 1
    rest = max(0.0, total - web - janus - clients - deployment - tools)
    return (
        f'From "Appeler" until the last call was live ({seconds:.1f} s) the machine had '
        f"{seconds * cores:.1f} CPU-seconds and spent {total:.1f}: the load generator "
        f"{clients:.1f} ({100 * clients / max(total, 1e-9):.0f} %), the web tier {web:.1f}, "
        f"Janus {janus:.1f}, the deployment's other processes {deployment:.1f}, the "
        f"recordings' tools {tools:.1f}, everything else {rest:.1f}."
    )


def web_processes(rounds: list[Round], idle: dict[str, float]) -> str:
    """Where the web tier's CPU went over a round, and what the same processes spend with
    no call at all over as long (median over the rounds)."""
    wall = statistics.median(r.wall for r in rounds)
    names = sorted(idle, key=lambda n: (n != "daphne", n))
    parts = []
    for name in names:
        used = statistics.median(r.web_by_process.get(name, 0.0) for r in rounds)
        parts.append(f"{name} {used:.2f} s ({idle[name] * wall:.2f} s of it idle)")
    total_idle = sum(idle.values()) * wall
    return (
        f"The web tier's CPU over a round ({wall:.1f} s, both web hosts): "
        + "; ".join(parts)
        + f". With no call at all, the same processes spend {total_idle:.2f} CPU-s over as "
        f"long: the workers polling the database and the media nodes."
    )


def verdict(rounds: list[Round], count: int) -> str:
    setups = [s for r in rounds for s in r.setups]
    p95 = percentile(setups, 0.95) if setups else float("nan")
    complete = all(len(r.setups) == count for r in rounds)
    met = complete and p95 <= 2.0
    text = (
        f"Goal (issue 16): {count} calls started in the same second all live within 2 s at "
        f"p95. Here, over {len(rounds)} rounds: p95 {p95:.2f} s, "
        f"{'every call live' if complete else 'NOT every call live'}: "
        f"{'met' if met else 'NOT met'}."
    )
    if not met:
        # What the web tier may spend per call for the set-ups to fit the goal's window,
        # the other parts' needs in that window as measured.
        cores = os.cpu_count() or 1
        web, total = (statistics.median(r.window[i] for r in rounds) for i in (0, 5))
        others = max(0.0, total - web)
        budget = max(0.0, WINDOW * cores - others) / count
        per_call = statistics.median(
            [r.web_cpu / len(r.setups) for r in rounds if r.setups] or [float("nan")]
        )
        text += (
            f" The web tier's CPU per call set-up (median {per_call:.2f} s) would have to "
            f"fall to about {budget:.2f} s for {count} set-ups to fit in {WINDOW:.0f} s on "
            f"{cores} cores beside the rest as measured."
        )
    return text


def document(rounds: list[Round], args, idle: dict[str, float]) -> str:
    failures = [f for r in rounds for f in r.failures]
    nice = f" --nice {args.nice}" if args.nice else ""
    command = f"bench/bench_multihost.py --calls {args.calls} --rounds {args.rounds}{nice}"
    return f"""`.venv/bin/python {command}`, {date.today().isoformat()}. Machine:
{machine()}; load average at the end {os.getloadavg()[0]:.2f}.
{args.rounds} rounds of {args.calls} calls, each on fresh bookings; every process of the
deployment (two web hosts with all their workers, PostgreSQL, Redis, HAProxy, two Janus
and their agents, coturn) and the load generator share the machine's cores.

{table(rounds, args.calls)}

{breakdown(rounds)}

{window(rounds)}

{span_text(rounds)}

{web_processes(rounds, idle)}

{verdict(rounds, args.calls)}
{"Failures: " + "; ".join(failures[:10]) if failures else ""}

A call's set-up, from the kiosk's "Appeler" POST: the call and its code (one request), the
code message in the outbox (the SMS gateway's stand-in, read by the relative at once),
the relative's four HTTPS requests (the link's page, the code, both consents) and the call
page, both sockets' hello, a room on the least loaded node, each side's publication and
subscription (ICE and DTLS through Janus), the first complete video keyframe received
over SRTP on each side (not decoded: the clients do not decode what they receive, a browser
shows it a few milliseconds later). CPU per call: the web hosts' processes (daphne and the
four workers on each) and both Janus over the round, divided by the calls. The load
generator is the synthetic clients (aiortc: TLS, ICE, DTLS, SRTP, RTP and RTCP in Python),
which a real deployment does not pay, on the same two cores.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-seconds", type=int, default=1500)
    parser.add_argument("--no-doc", action="store_true", help="do not touch performance.md")
    parser.add_argument("--nice", type=int, default=0, help=NICE_HELP)
    parser.add_argument(
        "--logs",
        type=Path,
        help="folder to keep every host's logs in (the deployment's are deleted otherwise)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="folder for py-spy's samples of each daphne during each set-up (needs py-spy)",
    )
    args = parser.parse_args()
    if not 1 <= args.calls <= 40 or not 1 <= args.rounds <= 10:
        parser.error("--calls takes 1 to 40, --rounds 1 to 10")
    bound_run(args.max_seconds, args.nice)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parloir.test_settings")
    import django

    django.setup()
    from tests.multihost.deployment import Deployment

    rounds: list[Round] = []
    try:
        with tempfile.TemporaryDirectory(prefix="parloir-bench-multihost-") as tmp:
            deployment = Deployment(Path(tmp))
            try:
                deployment.start()
                idle = idle_web_cpu(deployment)
                for index in range(args.rounds):
                    rounds.append(one_round(deployment, Path(tmp), args.calls, index, args.profile))
                    r = rounds[-1]
                    print(
                        f"round {index + 1}: {len(r.setups)}/{args.calls} live, p95 "
                        f"{_p(r.setups, 0.95)}, failures: {r.failures[:3]}",
                        flush=True,
                    )
                    for late in r.late:
                        print(f"  late: {late}", flush=True)
                    # Let the round's calls end and their rooms go before the next one.
                    time.sleep(5)
            finally:
                deployment.stop()
                if args.logs:
                    shutil.copytree(deployment.net.workdir / "logs", args.logs, dirs_exist_ok=True)
    except Interrupted as exc:
        sys.exit(f"bench_multihost: stopped ({exc}); cleaned up")
    printed = "\n\n".join(
        [
            table(rounds, args.calls),
            breakdown(rounds),
            window(rounds),
            span_text(rounds),
            web_processes(rounds, idle),
            verdict(rounds, args.calls),
        ]
    )
    publish(SECTION, printed, None if args.no_doc else document(rounds, args, idle))


if __name__ == "__main__":
    main()
