"""Benchmark of the relative's path on a slow mobile link: from the SMS's link to the call.

    .venv/bin/python bench/bench_slow_link.py [--calls 3] [--profiles none,3g,edge] [--steps]

The stack of bench_call.py (Janus, daphne with the in-process workers, in a private network
namespace, on a throwaway SQLite database). For each call the kiosk, on the prison's own
network, presses "Appeler"; the relative, in a fresh browser context (no cache, no service
worker: a first visit), opens the link of the SMS, presses "Connexion", accepts the
conditions and the monitoring notice (Playwright clicks at once) and reaches the call.

The relative's page is throttled by Chromium's own network emulation (DevTools protocol,
Network.emulateNetworkConditions; this machine's kernel has no netem): every HTTP request
and the WebSocket's handshake wait the profile's latency, bodies flow at its rates, and
WebRTC's packets are delayed too, each way (ICE's first check takes about twice the
latency), so the media set-up is slowed more than on a real link of that latency.

Measured per call, with timestamps from the pages (as in bench_call.py): link opened → code
page shown; "Connexion" → call page shown (the code's POST and the two consent pages);
call page shown → "welcome" on its WebSocket; → first remote frame at the relative and at the
kiosk; and the bytes and requests the relative's page loaded on the way (DevTools
protocol, Network.loadingFinished: headers included, media and WebSocket frames not).

Results go to the section "The relative on a slow link" of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_call import (  # noqa: E402
    FIRST_FRAME,
    PAGE_PROBE,
    STEPS,
    call_stack,
    configure_django,
    kiosk_sign_in_and_call,
)
from bench.perfdoc import (  # noqa: E402
    NICE_HELP,
    Interrupted,
    bound_run,
    machine,
    ms,
    publish,
    tool_version,
)

SECTION = "The relative on a slow link"
STEPS_SHOWN = False  # --steps: print each call's steps (and a stuck call's, before failing)


@dataclass(frozen=True)
class Profile:
    name: str
    latency_ms: float  # added to every request before its response starts
    down_kbps: float
    up_kbps: float

    def conditions(self) -> dict:
        return {
            "offline": False,
            "latency": self.latency_ms,
            "downloadThroughput": self.down_kbps * 1000 / 8,  # bytes/s
            "uploadThroughput": self.up_kbps * 1000 / 8,
        }

    def describe(self) -> str:
        return (
            f"{self.name}: {self.latency_ms:g} ms per request, {self.down_kbps:g} kbit/s "
            f"down, {self.up_kbps:g} kbit/s up"
        )


# "fast-3g" and "slow-3g" are Chromium DevTools' presets, whose request latency is a round
# trip multiplied (x3.75, x5) to stand for connection set-ups; "3g" and "edge" are plain.
PROFILES = {
    "none": Profile("none", 0, 0, 0),
    "3g": Profile("3g", 300, 1600, 750),
    "fast-3g": Profile("fast-3g", 562.5, 1474.56, 675),
    "edge": Profile("edge", 800, 240, 120),
    "slow-3g": Profile("slow-3g", 2000, 400, 400),
}


@dataclass
class Journey:
    opened: float  # epoch s, the relative's page.goto(link)
    code_page: float
    connexion: float
    call_page: float
    socket_open: float
    welcome: float
    relative_frame: float
    kiosk_frame: float
    bytes_loaded: int
    requests: int

    @property
    def total(self) -> float:
        return max(self.relative_frame, self.kiosk_frame) - self.opened


MEASURES = [
    ("link opened → code page shown", lambda p: p.code_page - p.opened),
    ('"Connexion" → call page shown', lambda p: p.call_page - p.connexion),
    ("call page shown → WebSocket open", lambda p: p.socket_open - p.call_page),
    ("call page shown → welcome", lambda p: p.welcome - p.call_page),
    ("call page shown → first frame at the relative", lambda p: p.relative_frame - p.call_page),
    ("call page shown → first frame at the kiosk", lambda p: p.kiosk_frame - p.call_page),
    ("**link opened → first frame on both sides**", lambda p: p.total),
]


class Tally:
    """What one page loaded, as the DevTools protocol reports it."""

    def __init__(self) -> None:
        self.bytes = 0
        self.requests = 0

    def finished(self, event: dict) -> None:
        self.bytes += int(event.get("encodedDataLength") or 0)
        self.requests += 1


def _step(steps: list, label: str) -> float:
    found = next((at for what, at in steps if what == label), None)
    if found is None:
        seen = ", ".join(what for what, _ in steps)
        raise RuntimeError(f"no step {label!r} in the page's steps ({seen})")
    return found / 1000


async def one_call(browsers, stack, ready, profile: Profile) -> Journey:
    from calls.access import KIOSK_COOKIE
    from tests.e2e.browser import last_code, relative_joins, wait_call_state

    kiosk_context = await browsers.context(stack.base_url)
    relative_context = await browsers.context(stack.base_url, service_workers="block")
    try:
        await kiosk_context.add_cookies(
            [{"name": KIOSK_COOKIE, "value": ready.credential, "url": stack.base_url}]
        )
        for context in (kiosk_context, relative_context):
            await context.add_init_script(PAGE_PROBE)
        kiosk = await kiosk_context.new_page()
        await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
        link, code = last_code(stack.outbox)

        relative = await relative_context.new_page()
        devtools = await relative_context.new_cdp_session(relative)
        tally = Tally()
        devtools.on("Network.loadingFinished", tally.finished)
        await devtools.send("Network.enable")
        if profile.latency_ms or profile.down_kbps:
            await devtools.send("Network.emulateNetworkConditions", profile.conditions())
        opened = time.time()
        await relative_joins(relative, link, code)
        try:
            for page in (relative, kiosk):
                await page.wait_for_function(FIRST_FRAME, timeout=120000)
        except Exception:
            if STEPS_SHOWN:
                for side, page in (("relative", relative), ("kiosk", kiosk)):
                    for what, at in await page.evaluate(STEPS, 0):
                        print(f"  {side} {at / 1000 - opened:+8.3f} {what}")
            raise
        rel = await relative.evaluate("() => window.__bench")
        kio = await kiosk.evaluate("() => window.__bench")
        steps = await relative.evaluate(STEPS, 0)
        connexion = await relative.evaluate("() => sessionStorage.getItem('bench:Connexion')")
        path = Journey(
            opened=opened,
            code_page=_step(steps, "DOM ready /j/…"),
            connexion=float(connexion) / 1000,
            call_page=_step(steps, "DOM ready /appel"),
            socket_open=_step(steps, "ws open"),
            welcome=_step(steps, "ws ← welcome"),
            relative_frame=(rel.get("rvfc") or rel["poll"]) / 1000,
            kiosk_frame=(kio.get("rvfc") or kio["poll"]) / 1000,
            bytes_loaded=tally.bytes,
            requests=tally.requests,
        )
        if STEPS_SHOWN:
            for what, at in steps:
                print(f"  {at / 1000 - path.call_page:+8.3f} {what}")
            print(f"  {path.relative_frame - path.call_page:+8.3f} FIRST FRAME relative")
        await kiosk.click("#hangup")
        with contextlib.suppress(Exception):
            await wait_call_state(kiosk, ["ended"], timeout_ms=10000)
        return path
    finally:
        await kiosk_context.close()
        await relative_context.close()


async def run_all(stack, readies, profiles: list[Profile], calls: int, on_done) -> dict:
    from tests.e2e.browser import Browsers

    results: dict[str, list[Journey]] = {profile.name: [] for profile in profiles}
    async with Browsers() as browsers:
        # One unthrottled call first, not counted: the first call of a fresh server pays
        # for its imports and caches.
        await asyncio.wait_for(one_call(browsers, stack, readies.pop(), PROFILES["none"]), 120)
        for profile in profiles:
            for i in range(calls):
                path = await asyncio.wait_for(
                    one_call(browsers, stack, readies.pop(), profile), 240
                )
                results[profile.name].append(path)
                on_done(profile, i, path)
    return results


def measure(workdir: Path, profiles: list[Profile], calls: int) -> dict[str, list[Journey]]:
    configure_django(workdir, None)
    from calls.tests.helpers import ready_call
    from tests.media.harness import check_prerequisites

    check_prerequisites()
    readies = [ready_call() for _ in range(calls * len(profiles) + 1)]
    with call_stack(workdir, f"parloir-bs{os.getpid()}") as (stack, runner, _janus_pid):
        print("stack up; calling…", flush=True)

        def done(profile: Profile, i: int, path: Journey) -> None:
            print(
                f"{profile.name} call {i + 1}/{calls}: code page {ms(path.code_page - path.opened)}"
                f", Connexion → call page {ms(path.call_page - path.connexion)}, link → both "
                f"frames {ms(path.total)}, {path.bytes_loaded / 1024:.0f} KiB in "
                f"{path.requests} requests",
                flush=True,
            )

        return runner.run(
            run_all(stack, readies, profiles, calls, done),
            240 * (calls * len(profiles) + 1) + 60,
        )


def table(results: dict[str, list[Journey]]) -> str:
    names = list(results)
    header = "| median (max) | " + " | ".join(names) + " |"
    lines = [header, "| --- |" + " ---: |" * len(names)]
    for label, measure_of in MEASURES:
        cells = []
        for name in names:
            values = [measure_of(path) for path in results[name]]
            cells.append(f"{ms(statistics.median(values))} ({ms(max(values))})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    kib = [
        f"{statistics.median(p.bytes_loaded for p in results[n]) / 1024:.0f} KiB in "
        f"{statistics.median(p.requests for p in results[n]):.0f}"
        for n in names
    ]
    lines.append("| loaded by the relative's page (median): bytes, requests | " + " | ".join(kib))
    lines[-1] += " |"
    return "\n".join(lines)


def document(results: dict[str, list[Journey]], profiles: list[Profile], args) -> str:
    described = "; ".join(profile.describe() for profile in profiles if profile.latency_ms)
    nice = f" --nice {args.nice}" if args.nice else ""
    return f"""
`.venv/bin/python bench/bench_slow_link.py --calls {args.calls} --profiles {args.profiles}{nice}`,
{date.today().isoformat()}: {machine()}; {tool_version(["chromium", "--version"])}.

The relative's way from the SMS's link to the call, on an emulated mobile link. The stack
of bench_call.py runs in a private network namespace; the kiosk, on the prison's network,
is not throttled. Each relative is a first visit: a fresh browser context, no cache, no
service worker. Their page is throttled by Chromium's own network emulation (the DevTools
protocol; this machine's kernel has no netem): {described}. Every HTTP request and the
WebSocket's handshake wait that latency, and bodies flow at those rates. WebRTC's packets
are delayed by it too, each way, so the media's set-up sees twice the latency as its round
trip: the first frames below are pessimistic for a real link of that latency. "fast-3g" is
Chromium DevTools' preset of that name, whose latency is a 3G round trip multiplied to
stand for connection set-ups. {args.calls} calls per profile, after one unthrottled call
not counted; Playwright clicks through the two consent pages at once (a person adds
reading time). Bytes: what the relative's page loaded (DevTools protocol,
Network.loadingFinished: headers included; WebSocket frames and media not).

{table(results)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3, help="calls per profile")
    parser.add_argument(
        "--profiles",
        default="none,3g,fast-3g,edge",
        help=f"comma-separated, among {', '.join(PROFILES)}",
    )
    parser.add_argument("--max-seconds", type=int, default=1800, help="hard limit for the run")
    parser.add_argument("--nice", type=int, default=0, help=NICE_HELP)
    parser.add_argument("--steps", action="store_true", help="print each call's steps")
    parser.add_argument("--no-doc", action="store_true", help="do not touch performance.md")
    args = parser.parse_args()
    global STEPS_SHOWN
    STEPS_SHOWN = args.steps
    names = [name.strip() for name in args.profiles.split(",") if name.strip()]
    unknown = [name for name in names if name not in PROFILES]
    if unknown or not names:
        parser.error(f"unknown profile(s) {unknown}: choose among {', '.join(PROFILES)}")
    if not 1 <= args.calls <= 20:
        parser.error("--calls takes 1 to 20")
    profiles = [PROFILES[name] for name in names]

    bound_run(args.max_seconds, args.nice)
    try:
        with tempfile.TemporaryDirectory(prefix="parloir-bench-slow-link-") as tmp:
            results = measure(Path(tmp), profiles, args.calls)
    except Interrupted as exc:
        sys.exit(f"bench_slow_link: stopped ({exc}); servers and namespace cleaned up")
    publish(SECTION, table(results), None if args.no_doc else document(results, profiles, args))


if __name__ == "__main__":
    main()
