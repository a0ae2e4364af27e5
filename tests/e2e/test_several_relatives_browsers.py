"""A call of several relatives in real browsers through real Janus (issue #19): the kiosk
and three relatives, each with their own SMS and code, two in Chromium (one on a 360 px
phone screen) and one in Firefox ESR; everyone sees and hears everyone; the Firefox
relative hangs up and the call goes on for the others; staff then remove one relative,
whose page goes to the end page while the detainee and the last relative talk on.

The pages are the reference pages (static/js/call-ui.js): one tile per other person, each
a <video> playing its own stream, named by the relative's first name.
"""

import asyncio
import json
import re
import time

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from calls.models import Call, CallRelative
from calls.tests.helpers import ready_family
from tests.e2e.browser import browsers_on, kiosk_page, kiosk_sign_in_and_call, relative_joins
from tests.e2e.doc_client import DocClient
from tests.factories import staff_with_role
from tests.relative.support import (
    FIREFOX,
    FIREFOX_DIR,
    PublicStack,
    ensure_node_modules,
    require_program,
)
from tests.relative.test_firefox import Script

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

# Every tile of the page: who it shows (data-who), its caption, whether its video plays.
TILES = """() => [...document.querySelectorAll('#tiles .tile')].map((tile) => {
  const v = tile.querySelector('video');
  const caption = tile.querySelector('figcaption');
  const stream = v.srcObject;
  return {
    who: tile.dataset.who, id: v.id,
    caption: caption.hidden ? '' : caption.textContent,
    playing: v.readyState >= 2 && v.videoWidth > 0 && !v.paused,
    width: v.videoWidth, time: v.currentTime, muted: v.muted,
    audio: stream ? stream.getAudioTracks().filter((t) => t.readyState === 'live').length : 0,
  };
})"""

ALL_PLAYING = f"""(who) => {{
  const tiles = ({TILES})();
  return tiles.length === who.length && tiles.every((t, i) => t.who === who[i] && t.playing);
}}"""

# What the receiving connection gets, per mid, and who the server said sends it.
INBOUND = """async () => {
  const client = window.parloirCall;
  const found = [];
  for (const stat of (await client.subscriber.getStats()).values()) {
    if (stat.type !== 'inbound-rtp') continue;
    const who = client.whoSends(stat.mid);
    found.push({
      mid: stat.mid, kind: stat.kind, who: who && `${who.role}:${who.relative}`,
      packets: stat.packetsReceived, frames: stat.framesDecoded, keyframes: stat.keyFramesDecoded,
    });
  }
  const tracks = [...document.querySelectorAll('#tiles .tile video')].map((v) => v.srcObject
    ? v.srcObject.getVideoTracks().map((t) => `${t.readyState}${t.muted ? ' muted' : ''}`)
    : null);
  return {found, tracks, signaling: client.subscriber.signalingState,
    low: client.lowBandwidth, quality: client.lastQuality, cap: client.sendCapKbps};
}"""

# protocol.js's atCap, as the page loads it: an estimate at or just under the server's cap
# is the cap; well under it, or with no cap known, it is the link.
AT_CAP_CASES = """async () => {
  const page = document.querySelector('script[type=module][src*="call-ui"]').src;
  const { atCap } = await import(new URL('protocol.js', page));
  return [atCap(128, 128), atCap(110, 128), atCap(90, 128), atCap(120, null), atCap(null, 128)];
}"""

# Each tile's picture moves on: its currentTime passes what it was.
ALL_ADVANCING = f"""(before) => ({TILES})().every((t, i) => t.time > before[i] + 0.3)"""

# Audio the receiving connection gets, per mid: packets received so far.
AUDIO_RECEIVED = """async () => {
  const received = {};
  for (const stat of (await window.parloirCall.subscriber.getStats()).values()) {
    const audio = stat.type === 'inbound-rtp' && stat.kind === 'audio';
    if (audio) received[stat.mid] = stat.packetsReceived;
  }
  return received;
}"""

AUDIO_FLOWING = f"""async (before) => {{
  const now = await ({AUDIO_RECEIVED})();
  const mids = Object.keys(before);
  return mids.length > 0 && mids.every((mid) => (now[mid] || 0) > before[mid] + 10);
}}"""

# A weak link: the detainee's picture, the other relatives' voices only (docs/signaling.md,
# "Link quality"): their tiles turn into thin bands with the name, still playing the voice.
VOICES_ONLY = """() => {
  const tiles = [...document.querySelectorAll('#tiles .tile')];
  const [first, ...others] = tiles;
  const v = first.querySelector('video');
  return tiles.length === 3 && first.dataset.who === 'kiosk' && v.videoWidth > 0 && !v.paused
    && others.every((t) => t.dataset.video === 'off'
      && t.querySelector('video').srcObject.getAudioTracks().length === 1);
}"""

NO_HORIZONTAL_SCROLL = "() => document.documentElement.scrollWidth"

EXPECTED = """(names) => {
  const expected = document.getElementById('expected');
  return !expected.hidden && expected.dataset.names === names;
}"""


@pytest.fixture
def public_stack(e2e_netns, e2e_janus, tmp_path):
    """The e2e stack, reachable at the namespace's address too: Firefox gathers ICE
    candidates only on the interface that leads to the page's server (never lo)."""
    running = PublicStack(e2e_netns, e2e_janus, tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
def node():
    require_program("firefox-esr", "firefox-esr")
    program = require_program("node", "nodejs")
    ensure_node_modules(FIREFOX_DIR, "puppeteer-core/package.json")
    return program


def family_booking():
    """A booking naming three contacts: Amina (the booking's own), Lina and Yanis."""
    return ready_family()


async def staff_remove(base_url: str, guard, device, call_id: int, position: int) -> tuple:
    """A guard signs in to the console (password, then their second factor) and removes
    the relative at ``position`` from the call, with a reason."""
    async with DocClient(base_url) as staff:
        await staff.fetch("/console/connexion/")
        status, where, _ = await staff.form(
            "/console/connexion/", {"username": guard.username, "password": "correct horse battery"}
        )
        assert status == 302 and "totp" in where, (status, where)
        await staff.fetch(where)
        oath = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
        oath.time = time.time()
        status, where, _ = await staff.form(where, {"token": f"{oath.token():06d}"})
        assert (status, where) == (302, "/console/"), (status, where)
        status, where, _ = await staff.form(
            f"/console/appels/{call_id}/proches/{position}/retirer/", {"reason": "Propos menaçants"}
        )
        return status, where


def codes_by_phone(outbox, lines_before: int, count: int) -> dict[str, tuple[str, str]]:
    """Each relative's own (link, code), from the message sent to their number."""
    found = {}
    for line in outbox.read_text().splitlines()[lines_before:]:
        message = json.loads(line)
        match = re.search(r"(https?://\S+/j/\S+?)#(\d{10})", message["text"])
        if match:
            found[message["to"]] = (match.group(1), match.group(2))
    assert len(found) == count, found
    return found


async def wait_outbox(outbox, lines: int, timeout: float = 20) -> None:
    """Until the outbox holds ``lines`` messages (they are written after the commit)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not outbox.exists() or len(outbox.read_text().splitlines()) < lines:
        assert loop.time() < deadline, "the codes never reached the outbox"
        await asyncio.sleep(0.05)


async def everyone_plays(page, who: list[str], timeout_ms: int = 45000) -> list[dict]:
    """The page shows exactly ``who``, in that order, every tile playing and moving on,
    and the voice of each reaching it."""
    try:
        await page.wait_for_function(ALL_PLAYING, arg=who, timeout=timeout_ms)
    except PlaywrightTimeoutError:
        # Say what the page showed instead: which tiles, and which of them did not play.
        raise AssertionError(
            f"{page.url} never showed {who} playing: {await page.evaluate(TILES)}; "
            f"received: {await page.evaluate(INBOUND)}"
        ) from None
    before = [tile["time"] for tile in await page.evaluate(TILES)]
    await page.wait_for_function(ALL_ADVANCING, arg=before, timeout=15000)
    audio = await page.evaluate(AUDIO_RECEIVED)
    await page.wait_for_function(AUDIO_FLOWING, arg=audio, timeout=15000, polling=250)
    return await page.evaluate(TILES)


def test_a_kiosk_and_three_relatives_see_each_other_and_one_hangs_up(
    public_stack, e2e_runner, node
):
    stack = public_stack
    ready, (amina, lina, yanis) = family_booking()
    guard = staff_with_role("guard", ready.site.establishment)
    device = TOTPDevice.objects.create(user=guard, name="phone", confirmed=True)
    lines = len(stack.outbox.read_text().splitlines()) if stack.outbox.exists() else 0
    script = None
    with browsers_on(e2e_runner) as browsers:
        try:

            async def call():
                kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
                await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
                await wait_outbox(stack.outbox, lines + 3)
                # The kiosk says whom it waits for.
                await kiosk.wait_for_function(EXPECTED, arg="Amina,Lina,Yanis", timeout=20000)
                return kiosk, await kiosk.locator("#expected").inner_text()

            kiosk, expected = stack.run(e2e_runner, call())
            codes = codes_by_phone(stack.outbox, lines, 3)
            # Yanis, in Firefox, at the namespace's address (see public_stack).
            link, code = codes[yanis.phone_number]
            script = Script(
                stack.netns,
                node,
                {
                    "base": stack.public_url,
                    "link": link.replace(stack.base_url, stack.public_url),
                    "code": code,
                    "firefox": FIREFOX,
                },
            )

            async def chromium_relatives_join():
                pages = []
                for contact, viewport in ((amina, None), (lina, {"width": 360, "height": 740})):
                    extra = {"viewport": viewport} if viewport else {}
                    context = await browsers.context(stack.base_url, **extra)
                    page = await context.new_page()
                    await relative_joins(page, *codes[contact.phone_number])
                    pages.append(page)
                return pages

            amina_page, lina_page = stack.run(e2e_runner, chromium_relatives_join(), timeout=120)
            script.expect("check", timeout=120)
            firefox = script.expect("playing", timeout=120)

            async def all_in():
                seen = {
                    "kiosk": await everyone_plays(
                        kiosk, ["relative:0", "relative:1", "relative:2"]
                    ),
                    "amina": await everyone_plays(
                        amina_page, ["kiosk", "relative:1", "relative:2"]
                    ),
                    "lina": await everyone_plays(lina_page, ["kiosk", "relative:0", "relative:2"]),
                }
                # Told the cap Janus holds their video at, the pages do not take it for a
                # weak link (it used to switch them to voices only under load).
                caps = {
                    name: await page.evaluate("() => window.parloirCall.sendCapKbps")
                    for name, page in (("kiosk", kiosk), ("amina", amina_page), ("lina", lina_page))
                }
                at_cap = await amina_page.evaluate(AT_CAP_CASES)
                scroll_width = await lina_page.evaluate(NO_HORIZONTAL_SCROLL)
                waiting = await kiosk.evaluate("() => document.getElementById('expected').hidden")
                return seen, scroll_width, waiting, caps, at_cap

            seen, lina_scroll_width, expected_hidden, caps, at_cap = stack.run(
                e2e_runner, all_in(), timeout=180
            )
            assert caps == {"kiosk": 512, "amina": 128, "lina": 128}, caps
            assert at_cap == [True, True, False, False, False], at_cap

            # Lina's link is weak: she ticks the low-bandwidth mode, keeps the detainee's
            # picture and everyone's voice; unticked, she sees everyone again.
            async def weak_link():
                await lina_page.check("#low-bandwidth")
                await lina_page.wait_for_function(VOICES_ONLY, timeout=30000)
                audio = await lina_page.evaluate(AUDIO_RECEIVED)
                await lina_page.wait_for_function(AUDIO_FLOWING, arg=audio, timeout=15000)
                bands = await lina_page.evaluate(TILES)
                await lina_page.uncheck("#low-bandwidth")
                await everyone_plays(lina_page, ["kiosk", "relative:0", "relative:2"])
                return bands

            weak_tiles = stack.run(e2e_runner, weak_link(), timeout=120)

            # Yanis hangs up in Firefox: the call goes on for the others.
            script.go_on()
            ended = script.expect("ended", timeout=60)

            async def after_yanis():
                return {
                    "kiosk": await everyone_plays(kiosk, ["relative:0", "relative:1"]),
                    "amina": await everyone_plays(amina_page, ["kiosk", "relative:1"]),
                    "lina": await everyone_plays(lina_page, ["kiosk", "relative:0"]),
                    "alert": await kiosk.evaluate(
                        "() => document.getElementById('alert').textContent"
                    ),
                    "state": await kiosk.evaluate(
                        "() => document.getElementById('call').dataset.state"
                    ),
                }

            after = stack.run(e2e_runner, after_yanis(), timeout=120)

            # Staff remove Amina: her page leaves for the end page (the server's "out"),
            # her tile goes, the detainee and Lina talk on.
            async def amina_removed():
                call_id = int(kiosk.url.rsplit("/", 1)[-1])
                removed = await staff_remove(stack.base_url, guard, device, call_id, 0)
                await amina_page.wait_for_url(re.compile(r"/fin$"), timeout=20000)
                return {
                    "removed": removed,
                    "ended_text": await amina_page.locator("#end-reason").inner_text(),
                    "kiosk": await everyone_plays(kiosk, ["relative:1"]),
                    "lina": await everyone_plays(lina_page, ["kiosk"]),
                    "alert": await kiosk.evaluate(
                        "() => document.getElementById('alert').textContent"
                    ),
                }

            removal = stack.run(e2e_runner, amina_removed(), timeout=120)
        except Exception:
            if script is not None:
                print(script.log())
            raise
        finally:
            if script is not None:
                script.stop()

    assert expected.startswith("En attente de : Amina"), expected
    assert "Lina" in expected and "Yanis" in expected, expected
    # Everyone saw the three others, each in their own tile, voice included.
    kiosk_tiles = seen["kiosk"]
    assert [t["caption"] for t in kiosk_tiles] == ["Amina", "Lina", "Yanis"], kiosk_tiles
    assert kiosk_tiles[0]["id"] == "remote"
    for page, tiles in seen.items():
        heard = [t["width"] > 0 and t["audio"] == 1 and not t["muted"] for t in tiles]
        assert all(heard), (page, tiles)
    # A relative's page: the detainee first (#remote, no caption), the others named.
    assert [(t["id"], t["caption"]) for t in seen["amina"]] == [
        ("remote", ""), ("", "Lina"), ("", "Yanis"),
    ]  # fmt: skip
    assert [t["caption"] for t in seen["lina"]] == ["", "Amina", "Yanis"]
    # Lina's phone, 360 px wide, three tiles: nothing to scroll sideways.
    assert lina_scroll_width <= 360, lina_scroll_width
    assert [t["caption"] for t in weak_tiles] == ["", "Amina", "Yanis"], weak_tiles
    # Nobody left to wait for once the three are in.
    assert expected_hidden
    assert firefox["width"] > 0 and firefox["state"] == "live", firefox
    assert firefox["userAgent"].startswith("firefox/")

    # Yanis's tile went away everywhere; the others still see and hear each other.
    assert ended["path"] == "/fin"
    assert [t["caption"] for t in after["kiosk"]] == ["Amina", "Lina"]
    assert after["alert"] == "Yanis a quitté l'appel.", after["alert"]
    assert after["state"] == "live"
    call = Call.objects.get(booking=ready.booking)
    assert call.state == Call.State.LIVE
    legs = {leg.contact_id: leg for leg in CallRelative.objects.filter(call=call)}
    assert legs[yanis.pk].left_at is not None
    assert legs[lina.pk].left_at is None and legs[lina.pk].removed_at is None

    # Amina removed: her page ended, the kiosk shows Lina alone (in #remote), as a call
    # of one relative would, and says who went.
    assert removal["removed"][0] == 302, removal
    assert "retiré" in removal["ended_text"], removal
    assert [(t["id"], t["caption"]) for t in removal["kiosk"]] == [("remote", "Lina")], removal
    assert removal["alert"] == "Amina a été retiré(e) de l'appel par l'établissement."
    assert legs[amina.pk].removed_at is not None
