"""The relative's whole flow in Firefox ESR (WebDriver BiDi), the kiosk in Chromium.

The node script (tests/firefox/relative.mjs) runs inside the stack's namespace, like the
browsers of the other tests; it reports each step as a JSON line on its stdout.
"""

import json
import queue
import subprocess
import threading

import pytest

from calls.models import Call
from calls.tests.helpers import ready_call
from tests.e2e.browser import browsers_on, wait_remote_playing
from tests.relative.support import (
    FIREFOX,
    FIREFOX_DIR,
    ROOT,
    ensure_node_modules,
    kiosk_calls,
    require_program,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]


@pytest.fixture(scope="module")
def node():
    require_program("firefox-esr", "firefox-esr")
    program = require_program("node", "nodejs")
    ensure_node_modules(FIREFOX_DIR, "puppeteer-core/package.json")
    return program


class Script:
    """The node script, its JSON lines read by a thread so that waits can time out."""

    def __init__(self, netns, node, arguments: dict) -> None:
        self.lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        self.process = subprocess.Popen(  # noqa: S603
            [
                "ip",
                "netns",
                "exec",
                netns.name,
                node,
                str(FIREFOX_DIR / "relative.mjs"),
                json.dumps(arguments),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith("{"):
                self.lines.put(json.loads(line))
        self.lines.put({"event": "exit"})

    def expect(self, event: str, timeout: float) -> dict:
        try:
            message = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"No {event!r} from Firefox in {timeout} s:\n{self.log()}")
        assert message["event"] == event, f"{message}\n{self.log()}"
        return message

    def go_on(self) -> None:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def log(self) -> str:
        return "".join(self.output[-40:])

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        # SIGTERM lets puppeteer close Firefox, which it started in a process group of its
        # own: a SIGKILL to node alone left Firefox running (and loading the machine) after
        # a failed test.
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def test_a_relative_in_firefox_esr_calls_a_kiosk_in_chromium(stack, relative_runner, node):
    ready = ready_call()
    with browsers_on(relative_runner) as browsers:
        script = None
        try:
            kiosk, link, code = kiosk_calls(stack, relative_runner, browsers, ready)
            # Firefox gathers ICE candidates only on the interface that leads to the page's
            # server: at 127.0.0.1 that is lo, which ICE never uses. So Firefox opens the
            # portal at the namespace's own address.
            link = link.replace(stack.base_url, stack.public_url)
            script = Script(
                stack.netns,
                node,
                {"base": stack.public_url, "link": link, "code": code, "firefox": FIREFOX},
            )
            check = script.expect("check", timeout=90)
            playing = script.expect("playing", timeout=90)

            async def kiosk_sees_firefox():
                await wait_remote_playing(kiosk, timeout_ms=30000)
                return await kiosk.evaluate("() => document.getElementById('remote').videoWidth")

            kiosk_width = stack.run(relative_runner, kiosk_sees_firefox())
            script.go_on()
            ended = script.expect("ended", timeout=30)
            assert script.process.wait(30) == 0, script.log()
        finally:
            if script is not None:
                script.stop()

    assert check["results"] == {"camera": "ok", "microphone": "ok", "connection": "ok"}, check
    assert check["preview"] > 0
    assert playing["steps"] == [
        f"/j/{link.rsplit('/', 1)[-1]}",
        "/conditions",
        "/surveillance",
        "/appel",
    ]
    assert playing["width"] > 0 and playing["state"] == "live"
    assert playing["quality"] in {"Bonne connexion", "Connexion moyenne"}
    assert playing["userAgent"].startswith("firefox/")
    # Firefox takes the answer that makes it the DTLS server on the subscriber connection.
    assert set(playing["subscriberSetup"]) == {"passive"}, playing
    # It sends 40 ms audio packets, as Janus's answer asks (media.sdp).
    # 25 a second, give or take a loaded machine's sampling; 20 ms packets would be 50.
    assert 15 <= playing["audioPacketsPerSecond"] <= 30, playing
    assert kiosk_width > 0
    assert ended["path"] == "/fin"
    assert Call.objects.get(booking=ready.booking).end_reason == Call.EndReason.HUNG_UP_RELATIVE
