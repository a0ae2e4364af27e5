"""What the relative's-side browser tests share: a stack reachable from a second namespace,
that second namespace (the family's phone, behind a link tc can shape), axe-core, node tools.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.e2e.browser import kiosk_page, kiosk_sign_in_and_call
from tests.e2e.stack import WEB_PORT, Stack
from tests.media.harness import HarnessError, Netns, _ip, disable_ipv6

ROOT = Path(__file__).resolve().parents[2]
A11Y_DIR = ROOT / "tests" / "a11y"
AXE_JS = A11Y_DIR / "node_modules" / "axe-core" / "axe.min.js"
FIREFOX_DIR = ROOT / "tests" / "firefox"
FIREFOX = "/usr/bin/firefox-esr"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


class PublicStack(Stack):
    """The e2e stack, with the web server also listening on the namespace's address.

    Another namespace (the family's) and Firefox reach it there; the kiosk keeps using
    127.0.0.1 inside the stack's own namespace.
    """

    def __init__(self, netns: Netns, *args, **kwargs) -> None:
        super().__init__(netns, *args, **kwargs)
        self.bind = "0.0.0.0"  # noqa: S104 (inside a private namespace)
        self.public_url = f"http://{netns.address}:{WEB_PORT}"

    def env(self) -> dict[str, str]:
        env = super().env()
        env["PARLOIR_ALLOWED_HOSTS"] = f"localhost,127.0.0.1,{self.netns.address}"
        return env


class FamilyNetns(Netns):
    """The relative's own namespace, on the far end of the stack's veth pair.

    Inside one namespace, traffic between its own addresses goes through ``lo`` whatever
    the interface holding them, so a shaper on the stack's veth would see nothing. Janus
    sends only through the interface of its address (jd0), so the family's end of the
    link is the other end of that pair, jd1, moved here for the module and given back
    afterwards: then every packet between the relative and the stack crosses jd0/jd1,
    where tc can shape it, and only those packets do.
    """

    def __init__(self, stack_netns: Netns) -> None:
        super().__init__(f"parloir-f{os.getpid()}", address="10.98.0.2")
        self.stack_netns = stack_netns
        self.stack_side = "jd0"
        self.family_side = "jd1"

    def create(self) -> None:
        stack = self.stack_netns.name
        _ip("netns", "add", self.name)
        try:
            _ip("-n", self.name, "link", "set", "lo", "up")
            disable_ipv6(self.name)
            _ip("-n", stack, "link", "set", self.family_side, "netns", self.name)
            _ip("-n", self.name, "addr", "add", f"{self.address}/32", "dev", self.family_side)
            _ip("-n", self.name, "link", "set", self.family_side, "up")
            # Host routes only: the family reaches the stack's address and nothing else.
            _ip(
                "-n",
                self.name,
                "route",
                "add",
                f"{self.stack_netns.address}/32",
                "dev",
                self.family_side,
            )
            _ip("-n", stack, "route", "add", f"{self.address}/32", "dev", self.stack_side)
        except BaseException:
            self.delete()
            raise

    def delete(self) -> None:
        stack = self.stack_netns.name
        for command in (
            ["-n", self.name, "link", "set", self.family_side, "netns", stack],
            ["-n", stack, "link", "set", self.family_side, "up"],
            ["-n", stack, "route", "del", f"{self.address}/32"],
        ):
            subprocess.run(["ip", *command], capture_output=True, check=False)
        super().delete()

    def _sides(self) -> list[tuple[str, str]]:
        return [(self.name, self.family_side), (self.stack_netns.name, self.stack_side)]

    def shape(self, rate: str = "150kbit") -> None:
        """Limit the family's link to ``rate`` both ways, as a weak mobile connection."""
        for namespace, device in self._sides():
            _tc(
                namespace,
                "qdisc",
                "replace",
                "dev",
                device,
                "root",
                "tbf",
                "rate",
                rate,
                "burst",
                "16kb",
                "latency",
                "400ms",
            )

    def unshape(self) -> None:
        for namespace, device in self._sides():
            subprocess.run(
                ["ip", "netns", "exec", namespace, "tc", "qdisc", "del", "dev", device, "root"],
                capture_output=True,
                check=False,
            )

    def shaped_bytes(self) -> int:
        """Bytes sent by the family's side of the link, as tc counted them."""
        out = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.name,
                "tc",
                "-s",
                "qdisc",
                "show",
                "dev",
                self.family_side,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        match = re.search(r"Sent (\d+) bytes", out)
        return int(match.group(1)) if match else 0


def _tc(namespace: str, *args: str) -> None:
    if shutil.which("tc") is None:
        raise HarnessError("`tc` not found (apt-get install iproute2)")
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, "tc", *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise HarnessError(f"`tc {' '.join(args)}` in {namespace} failed: {result.stderr}")


# --- node tools ---------------------------------------------------------------------------


def require_program(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` not found: apt-get install {package}", pytrace=False)
    return path


def ensure_node_modules(folder: Path, marker: str) -> None:
    """``npm ci`` in a test-only folder when its node_modules are missing (no browser download)."""
    if (folder / "node_modules" / marker).exists():
        return
    npm = require_program("npm", "nodejs npm")
    env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"npm ci in {folder} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)


# --- axe-core -----------------------------------------------------------------------------

AXE_RUN = """async (tags) => {
  const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
}"""


async def axe_violations(page: Page) -> list[dict]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated, not added as a <script>: the site's CSP refuses inline scripts, and
        # the test's own tools are no exception to make in it.
        await page.evaluate(AXE_JS.read_text())
    return await page.evaluate(AXE_RUN, WCAG_TAGS)


def describe(violations: dict[str, list[dict]]) -> str:
    return json.dumps(
        {page: v for page, v in violations.items() if v}, indent=1, ensure_ascii=False
    )


# --- layout -------------------------------------------------------------------------------

LAYOUT = """() => {
  const root = document.documentElement;
  const selector = "button, .button, select, label.check-option, "
    + "input:not([type=hidden]):not([type=checkbox]):not([type=radio])";
  const targets = [...document.querySelectorAll(selector)]
    .filter((el) => el.offsetParent !== null && el.getClientRects().length > 0);
  return {
    scrollWidth: root.scrollWidth,
    clientWidth: root.clientWidth,
    targets: targets.map((el) => {
      const box = el.getBoundingClientRect();
      return {
        what: el.id || el.name || el.textContent.trim().slice(0, 40) || el.tagName,
        width: box.width, height: box.height,
        inside: box.left >= -0.5 && box.right <= root.clientWidth + 0.5,
      };
    }),
  };
}"""


async def layout_problems(page: Page) -> list[str]:
    """Horizontal scroll, and targets smaller than 44 × 44 px or outside the screen."""
    layout = await page.evaluate(LAYOUT)
    problems = []
    if layout["scrollWidth"] > layout["clientWidth"]:
        problems.append(f"horizontal scroll: {layout['scrollWidth']} > {layout['clientWidth']}")
    for target in layout["targets"]:
        if target["width"] < 44 or target["height"] < 44 or not target["inside"]:
            problems.append(
                f"{target['what']!r}: {target['width']:.0f}×{target['height']:.0f}"
                f"{'' if target['inside'] else ' off screen'}"
            )
    if not layout["targets"]:
        problems.append("no button found")
    return problems


# --- the outbox ---------------------------------------------------------------------------


def wait_new_code(outbox: Path, lines_before: int, timeout: float = 15) -> tuple[str, str]:
    """(link, code) of the first message written after ``lines_before`` lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outbox.exists():
            lines = outbox.read_text().splitlines()
            for line in lines[lines_before:]:
                match = re.search(r"(https?://\S+/j/\S+?)#(\d{10})", json.loads(line)["text"])
                if match:
                    return match.group(1), match.group(2)
        time.sleep(0.1)
    raise AssertionError(f"No code in {outbox} within {timeout} s")


def outbox_lines(outbox: Path) -> int:
    return len(outbox.read_text().splitlines()) if outbox.exists() else 0


def kiosk_calls(stack: Stack, runner, browsers, ready) -> tuple[Page, str, str]:
    """The kiosk presses "Appeler": its page, and the link and code the relative receives."""
    before = outbox_lines(stack.outbox)

    async def press():
        kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
        await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
        return kiosk

    kiosk = stack.run(runner, press())
    link, code = wait_new_code(stack.outbox, before)
    return kiosk, link, code
