"""The pre-call check and the call on a weak link, in Chromium through real Janus.

The weak link is real: the relative's browser runs in a namespace of its own whose only
way to the stack is a veth pair shaped with tc to 150 kbit/s each way (tests/relative/
support.py says why a shaper inside the stack's namespace would see nothing).
"""

import re
import time

import pytest

from calls.models import Participant
from calls.tests.helpers import ready_call
from tests.e2e.browser import Browsers, browsers_on, relative_joins, wait_remote_playing
from tests.e2e.stack import CHROMIUM_ARGS
from tests.relative.support import kiosk_calls

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

CHECK_DONE = "() => ['ok', 'problem'].includes(document.getElementById('check').dataset.state)"
CHECK_RESULTS = """() => Object.fromEntries([...document.querySelectorAll('.check')].map((s) => [
  s.id.replace('check-', ''),
  { result: s.dataset.result, text: s.querySelector('.result-text').textContent },
]))"""

AUDIO_PACKETS_IN = """async () => {
  let packets = 0;
  (await window.parloirCall.subscriber.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') packets += s.packetsReceived;
  });
  return packets;
}"""

VIDEO_ENCODING = """() => {
  const sender = window.parloirCall.publisher.getSenders().find((s) => s.track?.kind === 'video');
  const [encoding] = sender.getParameters().encodings;
  return { maxBitrate: encoding.maxBitrate, scale: encoding.scaleResolutionDownBy,
           fps: encoding.maxFramerate };
}"""


def _family_args(stack):
    # The stack is at a plain-HTTP address there: let Chromium treat it as secure, as
    # HTTPS would be in production, so that the camera may be asked for.
    return [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={stack.public_url}"]


@pytest.fixture
def weak_link(family):
    family.shape("150kbit")
    try:
        yield family
    finally:
        family.unshape()


async def _run_check(page):
    await page.goto("/verifier")
    await page.get_by_role("button", name="Commencer le test").click()
    await page.wait_for_function(CHECK_DONE, timeout=30000)
    return {
        "results": await page.evaluate(CHECK_RESULTS),
        "summary": await page.locator("#check-summary").inner_text(),
        "data": await page.evaluate("() => ({...document.getElementById('check').dataset})"),
        "preview": await page.evaluate("() => document.getElementById('check-preview').videoWidth"),
    }


def test_the_check_passes_with_a_camera_a_microphone_and_a_good_link(stack, relative_runner):
    async def scenario():
        async with Browsers() as browsers:
            page = await (await browsers.context(stack.base_url)).new_page()
            await page.goto("/")
            await page.get_by_role("link", name="Tester mon appareil avant l'appel").click()
            await page.wait_for_url(re.compile(r"/verifier$"))
            return await _run_check(page)

    check = stack.run(relative_runner, scenario())
    assert {name: r["result"] for name, r in check["results"].items()} == {
        "camera": "ok",
        "microphone": "ok",
        "connection": "ok",
    }, check
    assert check["preview"] > 0
    assert check["summary"] == "Tout fonctionne : vous êtes prêt pour l'appel."
    assert int(check["data"]["downloadKbps"]) > 800
    assert 0 <= int(check["data"]["rttMs"]) < 300


def test_the_check_explains_a_refused_camera(stack, relative_runner):
    refusing = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]

    async def scenario():
        async with Browsers(args=refusing) as browsers:
            context = await browsers.browser.new_context(base_url=stack.base_url, locale="fr-FR")
            page = await context.new_page()
            check = await _run_check(page)
            check["help"] = await page.get_attribute("main .help-link a", "href")
            return check

    check = stack.run(relative_runner, scenario())
    camera = check["results"]["camera"]
    assert camera["result"] == "fail"
    assert "Autorisez-les dans votre navigateur" in camera["text"]
    assert check["data"]["mediaError"] == "NotAllowedError"
    assert check["results"]["connection"]["result"] == "ok"
    assert "contactez l'établissement" in check["summary"]
    assert check["help"] == "/aide"


def test_the_check_calls_a_150_kbits_link_slow_and_says_what_to_do(stack, weak_link, family_runner):
    async def scenario():
        async with Browsers(args=_family_args(stack)) as browsers:
            page = await (await browsers.context(stack.public_url)).new_page()
            return await _run_check(page)

    check = stack.run(family_runner, scenario(), timeout=90)
    connection = check["results"]["connection"]
    assert connection["result"] == "fail", check
    assert check["data"]["link"] == "slow"
    assert int(check["data"]["downloadKbps"]) < 300
    assert "Connexion lente" in connection["text"] and "Connexion faible" in connection["text"]
    assert check["results"]["camera"]["result"] == "ok"


def test_a_relative_on_150_kbits_keeps_the_voice_in_low_bandwidth_mode(
    stack, relative_runner, weak_link, family_runner
):
    ready = ready_call()
    with (
        browsers_on(relative_runner) as kiosk_browsers,
        browsers_on(family_runner, args=_family_args(stack)) as family_browsers,
    ):
        kiosk, link, code = kiosk_calls(stack, relative_runner, kiosk_browsers, ready)
        link = link.replace(stack.base_url, stack.public_url)

        async def relative_joins_on_the_weak_link():
            page = await (await family_browsers.context(stack.public_url)).new_page()
            await relative_joins(page, link, code)
            started = time.monotonic()
            await page.wait_for_function(
                "() => document.getElementById('call').dataset.lowBandwidth === 'on'",
                timeout=60000,
            )
            return page, time.monotonic() - started

        relative, engaged_after = stack.run(
            family_runner, relative_joins_on_the_weak_link(), timeout=120
        )

        async def relative_side():
            return {
                "source": await relative.evaluate(
                    "() => document.getElementById('call').dataset.lowBandwidthSource"
                ),
                "checked": await relative.is_checked("#low-bandwidth"),
                "encoding": await relative.evaluate(VIDEO_ENCODING),
                "quality": await relative.locator("#quality-text").inner_text(),
                "note": await relative.locator("#bandwidth-note").inner_text(),
            }

        mine = stack.run(family_runner, relative_side())

        async def kiosk_side():
            await kiosk.wait_for_function(
                "() => document.getElementById('call').dataset.peerLowBandwidth === 'on'",
                timeout=15000,
            )
            await wait_remote_playing(kiosk, timeout_ms=30000)
            packets = [await kiosk.evaluate(AUDIO_PACKETS_IN)]
            for _ in range(2):
                await kiosk.wait_for_timeout(5000)
                packets.append(await kiosk.evaluate(AUDIO_PACKETS_IN))
            return {
                "packets": packets,
                "encoding": await kiosk.evaluate(VIDEO_ENCODING),
                "note": await kiosk.locator("#bandwidth-note").inner_text(),
            }

        sent_before = weak_link.shaped_bytes()
        started = time.monotonic()
        theirs = stack.run(relative_runner, kiosk_side(), timeout=90)
        family_kbps = (
            (weak_link.shaped_bytes() - sent_before) * 8 / 1000 / (time.monotonic() - started)
        )

        async def kiosk_reloads():
            # A reloaded page has forgotten the other side's weak link: the server says it
            # again, and the kiosk's new video starts small.
            await kiosk.reload()
            await kiosk.wait_for_function(
                "() => document.getElementById('call').dataset.peerLowBandwidth === 'on'",
                timeout=15000,
            )
            await wait_remote_playing(kiosk, timeout_ms=30000)
            await kiosk.wait_for_function(
                f"() => {{ try {{ return ({VIDEO_ENCODING})().maxBitrate === 100000; }} "
                "catch { return false; } }",
                timeout=15000,
            )
            return await kiosk.evaluate(VIDEO_ENCODING)

        after_reload = stack.run(relative_runner, kiosk_reloads(), timeout=90)

    print(
        f"low-bandwidth mode after {engaged_after:.1f} s; relative sent {family_kbps:.0f} "
        f"kbit/s; kiosk audio packets {theirs['packets']}"
    )
    # The relative's browser found the link weak by itself and cut its video...
    assert mine["source"] == "auto" and mine["checked"]
    assert mine["encoding"] == {"maxBitrate": 100000, "scale": 4, "fps": 10}
    assert mine["quality"] in {"Connexion faible", "Connexion moyenne"}
    assert "votre image est réduite" in mine["note"]
    # ...the kiosk was told and cut what it sends to the weak side...
    assert theirs["encoding"] == {"maxBitrate": 100000, "scale": 4, "fps": 10}
    assert "son image est réduite" in theirs["note"]
    # ...and the relative's voice keeps reaching the kiosk: Opus sends 25 packets a second
    # (40 ms each, as parloir's answer asks), 125 in each 5 s.
    first, middle, last = theirs["packets"]
    assert middle - first >= 100 and last - middle >= 100, theirs["packets"]
    assert after_reload == {"maxBitrate": 100000, "scale": 4, "fps": 10}
    # Through the shaper, at its rate.
    assert 20 < family_kbps < 170
    # Staff see the weak side on the live wall.
    assert Participant.objects.filter(
        call__booking=ready.booking, role="relative", last_slowlink_at__isnull=False
    ).exists()
