"""Driving Debian Chromium with Playwright's async API, from the namespace's thread."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from calls.access import KIOSK_COOKIE
from tests.e2e.stack import CHROMIUM_ARGS

CHROMIUM = "/usr/bin/chromium"


class Browsers:
    """One Chromium, several isolated contexts (the kiosk, the relative, staff)."""

    def __init__(self, args: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self._pw = None
        self.browser: Browser | None = None
        self.args = CHROMIUM_ARGS if args is None else args
        self.env = env

    async def __aenter__(self) -> Browsers:
        self._pw = await async_playwright().start()
        self.browser = await self._pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=self.args,
            **({"env": self.env} if self.env is not None else {}),
        )
        return self

    async def __aexit__(self, *exc) -> None:
        if self.browser is not None:
            await self.browser.close()
        if self._pw is not None:
            await self._pw.stop()

    async def context(self, base_url: str, locale: str = "fr-FR", **kwargs) -> BrowserContext:
        # The site guesses the language from the browser's; these tests read French.
        return await self.browser.new_context(
            base_url=base_url, permissions=["camera", "microphone"], locale=locale, **kwargs
        )


@contextmanager
def browsers_on(
    runner, args: list[str] | None = None, env: dict[str, str] | None = None
) -> Iterator[Browsers]:
    """One Chromium started on the namespace's loop (``runner``), for a test that runs
    several steps there with its own checks in between; closed on leaving, whatever
    happens."""
    browsers = runner.run(Browsers(args, env).__aenter__())
    try:
        yield browsers
    finally:
        runner.run(browsers.__aexit__(None, None, None))


def in_browsers(stack, runner, scenario, timeout: float):
    """``scenario(browsers)`` in one Chromium on the namespace's loop, closed afterwards
    whatever happens."""
    with browsers_on(runner) as browsers:
        return stack.run(runner, scenario(browsers), timeout=timeout)


async def kiosk_page(browsers: Browsers, base_url: str, credential: str) -> Page:
    context = await browsers.context(base_url)
    await context.add_cookies([{"name": KIOSK_COOKIE, "value": credential, "url": base_url}])
    return await context.new_page()


async def kiosk_sign_in_and_call(page: Page, prison_number: str, pin: str = "1234") -> None:
    await page.goto("/kiosk/")
    await page.fill("#prison_number", prison_number)
    await page.fill("#pin", pin)
    await page.click("main button[type=submit]")
    await page.get_by_role("button", name="Appeler").click()
    await page.wait_for_url(re.compile(r"/kiosk/appel/\d+$"))


def last_code(outbox: Path) -> tuple[str, str]:
    """(link, code) from the last message in the outbox, as the relative reads it."""
    text = json.loads(outbox.read_text().splitlines()[-1])["text"]
    link = re.search(r"(https?://\S+/j/\S+?)#(\d{10})", text)
    return link.group(1), link.group(2)


async def relative_joins(page: Page, link: str, code: str, sign_in: str = "Connexion") -> None:
    await page.goto(f"{link}#{code}")
    await page.get_by_role("button", name=sign_in).click()
    await page.wait_for_url(re.compile(r"/conditions$"))
    await page.click("button[value=accept]")
    await page.wait_for_url(re.compile(r"/surveillance$"))
    await page.click("button[value=accept]")
    await page.wait_for_url(re.compile(r"/appel$"))


async def new_device_joins(page: Page, link: str, outbox: Path) -> None:
    """The relative on another device (a dead phone): asks on the link's page for a new
    code, which goes to their phone (here, the outbox), types it, and accepts the terms
    and the monitoring notice on this device too (docs/calls.md)."""
    await page.goto(link)
    lines = len(outbox.read_text().splitlines())
    await page.get_by_role("button", name="Recevoir un nouveau code").click()
    await page.wait_for_url(re.compile(r"nouveau=1$"))
    deadline = asyncio.get_running_loop().time() + 15
    while len(outbox.read_text().splitlines()) == lines:  # the message is sent after commit
        assert asyncio.get_running_loop().time() < deadline, "no new code in the outbox"
        await asyncio.sleep(0.05)
    _link, code = last_code(outbox)
    await page.fill("#code", code)
    await page.get_by_role("button", name="Connexion").click()
    await page.wait_for_url(re.compile(r"/conditions$"))
    await page.click("button[value=accept]")
    await page.wait_for_url(re.compile(r"/surveillance$"))
    await page.click("button[value=accept]")
    await page.wait_for_url(re.compile(r"/appel$"))


REMOTE_PLAYING = """() => {
  const v = document.getElementById('remote');
  return !!v && v.readyState >= 2 && v.videoWidth > 0 && !v.paused;
}"""


async def wait_remote_playing(page: Page, timeout_ms: int = 20000) -> None:
    await page.wait_for_function(REMOTE_PLAYING, timeout=timeout_ms)
    first = await page.evaluate("() => document.getElementById('remote').currentTime")
    await page.wait_for_function(
        f"() => document.getElementById('remote').currentTime > {first} + 0.3", timeout=10000
    )


async def live_call(
    browsers: Browsers,
    base_url: str,
    ready,
    outbox: Path,
    relative_locale: str = "fr-FR",
    relative_init_script: str | None = None,
) -> tuple[Page, Page]:
    """Kiosk calls, relative joins, both see the other: the pages of a live call."""
    kiosk = await kiosk_page(browsers, base_url, ready.credential)
    await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
    link, code = last_code(outbox)
    context = await browsers.context(base_url, locale=relative_locale)
    if relative_init_script:
        await context.add_init_script(relative_init_script)
    relative = await context.new_page()
    sign_in = "Connexion" if relative_locale.startswith("fr") else "Sign in"
    await relative_joins(relative, link, code, sign_in)
    await wait_remote_playing(kiosk)
    await wait_remote_playing(relative)
    return kiosk, relative


FINAL_STATES = ["ended", "interrupted", "no_answer", "refused", "media_failed"]


async def wait_call_state(page: Page, states: list[str], timeout_ms: int = 15000) -> str:
    await page.wait_for_function(
        f"() => {json.dumps(states)}.includes(document.getElementById('call')?.dataset.state)",
        timeout=timeout_ms,
    )
    return await page.evaluate("() => document.getElementById('call').dataset.state")


# What a page shows and when, in its own clock: a test that drives pages on several
# loops reads the times afterwards, so its own waits never add to what it measures.
# Streams: each remote stream the page attached, and when it first drew frames (media
# back after a restart come in a new stream). Marks: when each value of the call's
# data-* attributes and of the alert was first seen.
WATCH = """() => {
  if (window.__streams) return;
  window.__streams = [];
  window.__marks = {};
  let source = null;
  let current = null;
  const mark = (key) => { if (!(key in window.__marks)) window.__marks[key] = Date.now(); };
  setInterval(() => {
    const video = document.getElementById('remote');
    if (!video) return;
    const count = video.getVideoPlaybackQuality().totalVideoFrames;
    if (video.srcObject !== source) {
      source = video.srcObject;
      current = { attachedAt: Date.now(), frames: count, firstAt: 0, drawn: 0 };
      window.__streams.push(current);
      return;
    }
    if (current && count > current.frames) {
      current.frames = count;
      current.drawn += 1;
      if (!current.firstAt) current.firstAt = Date.now();
    }
  }, 50);
  const call = document.getElementById('call');
  new MutationObserver((changes) => {
    for (const change of changes) {
      mark(`${change.attributeName}=${call.getAttribute(change.attributeName)}`);
    }
  }).observe(call, { attributes: true });
  const alert = document.getElementById('alert');
  new MutationObserver(() => { if (!alert.hidden) mark(`alert=${alert.textContent}`); })
    .observe(alert, { attributes: true, childList: true, characterData: true, subtree: true });
}"""
# A stream attached after ``since`` that drew frames at two samples at least.
NEW_STREAM = """(since) => window.__streams.some((s) => s.attachedAt > since && s.drawn >= 2)"""
FIRST_FRAME_AFTER = """(since) => Math.min(...window.__streams
  .filter((s) => s.attachedAt > since && s.drawn >= 2).map((s) => s.firstAt))"""
MARKED = """([prefix, since]) => Object.entries(window.__marks)
  .filter(([key, at]) => key.startsWith(prefix) && at >= since).map(([key, at]) => at)"""


async def watch(*pages: Page) -> None:
    for page in pages:
        await page.evaluate(WATCH)


async def page_clock(page: Page) -> int:
    return await page.evaluate("() => Date.now()")


async def seconds_until_mark(page: Page, prefix: str, since: int, timeout_ms=30000) -> float:
    """Seconds (page clock) from ``since`` until the page first showed a mark starting
    with ``prefix`` ("data-peer=left", "alert=Le serveur vidéo", ...)."""
    await page.wait_for_function(f"(a) => ({MARKED})(a).length > 0", arg=[prefix, since],
                                 timeout=timeout_ms)  # fmt: skip
    return (min(await page.evaluate(MARKED, [prefix, since])) - since) / 1000


async def seconds_until_new_media(page: Page, since: int, timeout_ms=30000) -> float:
    """Seconds (page clock) from ``since`` until a remote stream attached after it drew
    frames: the other side's media are back, in a new subscription."""
    await page.wait_for_function(NEW_STREAM, arg=since, timeout=timeout_ms)
    return (await page.evaluate(FIRST_FRAME_AFTER, since) - since) / 1000


async def watch_frames(pages) -> list[int]:
    """Start watching ``pages``; return each page's clock now."""
    await watch(*pages)
    return [await page_clock(page) for page in pages]


async def told_and_back(pages, since: list[int], *, told: str, timeout_ms=30000):
    """For each page: seconds from ``since`` (its clock at the failure) until it said
    ``told`` (an alert's beginning) or restarted its media, and until its media were back."""
    told_after, back_after = [], []
    marked = f"""(start) => [...({MARKED})([{("alert=" + told)!r}, start]),
      ...({MARKED})(["data-media-restarts=", start])]"""
    for page, start in zip(pages, since, strict=True):
        await page.wait_for_function(f"(s) => ({marked})(s).length > 0", arg=start,
                                     timeout=timeout_ms)  # fmt: skip
        told_after.append((min(await page.evaluate(marked, start)) - start) / 1000)
        back_after.append(await seconds_until_new_media(page, start, timeout_ms))
    return told_after, back_after
