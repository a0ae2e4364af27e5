"""What families complain about, in real browsers: wrong codes, expiry, refusal, drops, the end."""

import asyncio
import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone
from playwright.async_api import Error as PlaywrightError

from calls.models import Call, CallCode
from calls.tests.helpers import ready_call
from tests.e2e.browser import (
    FINAL_STATES,
    Browsers,
    browsers_on,
    in_browsers,
    kiosk_page,
    kiosk_sign_in_and_call,
    last_code,
    live_call,
    new_device_joins,
    relative_joins,
    wait_call_state,
    wait_remote_playing,
)
from tests.e2e.stack import CHROMIUM_ARGS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

CODE_ERROR = "Ce code n'est pas valide."


async def _type_code(page, code):
    await page.fill("#code", code)
    await page.get_by_role("button", name="Connexion").click()
    await page.wait_for_load_state()


def test_it_voids_the_code_after_five_wrong_attempts(stack, e2e_runner):
    ready = ready_call()

    async def scenario():
        async with Browsers() as browsers:
            kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
            await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
            link, code = last_code(stack.outbox)
            wrong = f"{(int(code) + 1) % 10**10:010d}"
            relative = await (await browsers.context(stack.base_url)).new_page()
            await relative.goto(link)
            for _ in range(5):
                await _type_code(relative, wrong)
                assert CODE_ERROR in unescape(await relative.content())
            await _type_code(relative, code)
            return unescape(await relative.content()), relative.url

    html, url = stack.run(e2e_runner, scenario())
    assert CODE_ERROR in html
    assert "/conditions" not in url
    assert CallCode.objects.get(call__booking=ready.booking).voided_at is not None


def test_it_refuses_an_expired_code(stack, e2e_runner):
    ready = ready_call()

    async def call_from_kiosk(browsers):
        kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
        await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)

    async def relative_tries(browsers, link, code):
        relative = await (await browsers.context(stack.base_url)).new_page()
        await relative.goto(f"{link}#{code}")
        await relative.get_by_role("button", name="Connexion").click()
        await relative.wait_for_load_state()
        return unescape(await relative.content())

    with browsers_on(e2e_runner) as browsers:
        stack.run(e2e_runner, call_from_kiosk(browsers))
        link, code = last_code(stack.outbox)
        # Five minutes pass: the code's persisted expiry is now behind us.
        now = timezone.now()
        CallCode.objects.filter(call__booking=ready.booking).update(
            created_at=now - timedelta(minutes=5, seconds=1), expires_at=now - timedelta(seconds=1)
        )
        html = stack.run(e2e_runner, relative_tries(browsers, link, code))
    assert CODE_ERROR in html


def test_a_refusal_leaves_the_slot_and_the_detainee_calls_again_with_a_new_code(stack, e2e_runner):
    """The relative refuses the monitoring notice: the kiosk is told at once and may call
    again in the same slot; the second code gets the call going. Nothing of the refused
    attempt is recorded: Janus records from the moment the conversation starts."""
    ready = ready_call()
    recordings = stack.janus.recording_dir

    async def refuse(browsers):
        kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
        await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
        await kiosk.wait_for_function("() => document.getElementById('call').dataset.state")
        link, code = last_code(stack.outbox)
        relative = await (await browsers.context(stack.base_url)).new_page()
        await relative.goto(f"{link}#{code}")
        await relative.get_by_role("button", name="Connexion").click()
        await relative.click("button[value=accept]")
        await relative.wait_for_url("**/surveillance")
        await relative.click("button[value=reject]")
        await relative.wait_for_url("**/fin")
        told = await relative.locator("#call-again").inner_text()
        state = await wait_call_state(kiosk, ["booked"])
        await kiosk.wait_for_function(
            "() => !document.getElementById('alert').hidden", timeout=10000
        )
        alert = await kiosk.locator("#alert").inner_text()
        return kiosk, relative, state, alert, told

    async def call_again(kiosk, relative):
        before = stack.outbox.read_text().count("\n")
        await kiosk.get_by_role("button", name="Envoyer un nouveau code").click()
        # The new code's message, however long a loaded machine takes to write it.
        async with asyncio.timeout(60):
            while stack.outbox.read_text().count("\n") <= before:
                await asyncio.sleep(0.1)
        link, code = last_code(stack.outbox)
        await relative_joins(relative, link, code)
        await wait_remote_playing(kiosk)
        await wait_remote_playing(relative)
        return await wait_call_state(kiosk, ["live"])

    with browsers_on(e2e_runner) as browsers:
        kiosk, relative, state, alert, told = stack.run(e2e_runner, refuse(browsers))
        call = Call.objects.get(booking=ready.booking)
        # The kiosk published while it waited: not a byte of it was recorded.
        assert not list(recordings.rglob("*.mjr")), "the refused attempt left a recording"
        assert not call.rooms.filter(recording=True).exists()
        live = stack.run(e2e_runner, call_again(kiosk, relative))
    assert state == "booked"
    assert "pas accepté les conditions" in alert and "appeler de nouveau" in alert
    assert "nouveau code" in told
    assert live == "live"
    call.refresh_from_db()
    assert call.state == Call.State.LIVE
    assert [t.to_state for t in call.transitions.all()] == [
        "calling", "code_sent", "booked", "calling", "code_sent", "relative_joined", "live",
    ]  # fmt: skip
    assert call.rooms.get().recording
    assert list(recordings.rglob("*.mjr")), "the conversation is recorded"


def test_the_relative_rejoins_after_a_drop_with_the_same_code_and_deadline(stack, e2e_runner):
    """The tab is closed: the same browser comes back with the same code, no consents
    again; then the phone dies: another device asks for a new code, which goes to the
    relative's phone, and gives the consents itself (docs/calls.md)."""
    ready = ready_call()

    async def rejoin(browsers, kiosk, relative, link, code):
        context = relative.context
        await relative.close()
        again = await context.new_page()
        await again.goto(f"{link}#{code}")
        await again.get_by_role("button", name="Connexion").click()
        await again.wait_for_url("**/appel")
        await wait_remote_playing(again)
        await wait_remote_playing(kiosk)
        # The phone dies: its whole browser context goes away.
        await context.close()
        device = await (await browsers.context(stack.base_url)).new_page()
        await new_device_joins(device, link, stack.outbox)
        assert last_code(stack.outbox)[1] != code
        await wait_remote_playing(device)
        await wait_remote_playing(kiosk)

    with browsers_on(e2e_runner) as browsers:
        kiosk, relative = stack.run(
            e2e_runner, live_call(browsers, stack.base_url, ready, stack.outbox)
        )
        deadline_before = Call.objects.get(booking=ready.booking).deadline
        link, code = last_code(stack.outbox)
        stack.run(e2e_runner, rejoin(browsers, kiosk, relative, link, code))
    call = Call.objects.get(booking=ready.booking)
    assert call.state == Call.State.LIVE
    assert call.deadline == deadline_before


def test_a_page_that_may_no_longer_join_leaves_instead_of_retrying(stack, e2e_runner):
    """The server's only fatal error (forbidden): the page must not reconnect for ever."""
    ready = ready_call()

    async def lose_access(relative):
        # The portal session is gone (cleared, expired): the next join is refused.
        await relative.context.clear_cookies()
        await relative.evaluate("() => window.parloirCall.ws.close()")
        await relative.wait_for_url("**/fin", timeout=15000)

    with browsers_on(e2e_runner) as browsers:
        _kiosk, relative = stack.run(
            e2e_runner, live_call(browsers, stack.base_url, ready, stack.outbox)
        )
        stack.run(e2e_runner, lose_access(relative))


def test_the_server_ends_the_call_at_its_limit_on_both_sides(stack, e2e_runner):
    ready = ready_call()
    booking = ready.booking

    async def call_from_kiosk(browsers):
        kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
        await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
        return kiosk

    async def join_and_wait_for_the_end(browsers, kiosk, link, code):
        relative = await (await browsers.context(stack.base_url)).new_page()
        await relative_joins(relative, link, code)
        await wait_remote_playing(kiosk)
        await wait_remote_playing(relative)
        # Less than a minute is left: both screens say so before the end.
        for page in (kiosk, relative):
            await page.wait_for_function(
                "() => document.getElementById('alert').textContent.includes('1 minute')",
                timeout=5000,
            )
        states = [
            await wait_call_state(page, ["ended"], timeout_ms=40000) for page in (kiosk, relative)
        ]
        seen_at = timezone.now()
        reasons = [await page.locator("#alert").inner_text() for page in (kiosk, relative)]
        return states, reasons, seen_at

    with browsers_on(e2e_runner) as browsers:
        kiosk = stack.run(e2e_runner, call_from_kiosk(browsers))
        # A slot ending 20 seconds from now stands in for the 20-30 minute limit.
        type(booking).objects.filter(pk=booking.pk).update(
            ends_at=timezone.now() + timedelta(seconds=20)
        )
        link, code = last_code(stack.outbox)
        states, reasons, seen_at = stack.run(
            e2e_runner, join_and_wait_for_the_end(browsers, kiosk, link, code), timeout=120
        )
    call = Call.objects.get(booking=booking)
    assert states == ["ended", "ended"]
    assert call.end_reason == "time_up"
    assert all("Durée écoulée" in reason for reason in reasons)
    assert call.ended_at - call.deadline < timedelta(seconds=2)
    assert seen_at - call.deadline < timedelta(seconds=3)


def test_a_refused_camera_gets_an_explanation_and_a_retry(stack, e2e_runner):
    ready = ready_call()
    # Without the flag that auto-accepts, headless Chromium refuses camera and microphone.
    refusing = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]

    async def scenario():
        async with Browsers() as browsers, Browsers(args=refusing) as denying:
            kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
            await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
            link, code = last_code(stack.outbox)
            context = await denying.browser.new_context(base_url=stack.base_url, locale="fr-FR")
            relative = await context.new_page()
            await relative_joins(relative, link, code)
            await relative.wait_for_selector("#media-help", state="visible", timeout=10000)
            help_text = await relative.locator("#media-help").inner_text()
            error = await relative.evaluate(
                "() => document.getElementById('call').dataset.mediaError"
            )
            retry_visible = await relative.get_by_role("button", name="Réessayer").is_visible()
            # The relative gives up: with no socket at all, "Raccrocher" must still end
            # the call, or the detainee waits for nobody until the end of the slot.
            await relative.get_by_role("button", name="Raccrocher").click()
            await relative.wait_for_url("**/fin")
            kiosk_state = await wait_call_state(kiosk, FINAL_STATES)
            kiosk_clock = await kiosk.locator("#time-left").inner_text()
            return help_text, error, retry_visible, kiosk_state, kiosk_clock

    help_text, error, retry_visible, kiosk_state, kiosk_clock = stack.run(e2e_runner, scenario())
    assert "Autorisez-les dans votre navigateur" in help_text
    assert error == "NotAllowedError"
    assert retry_visible
    assert kiosk_state == "ended"
    assert Call.objects.get(booking=ready.booking).end_reason == "hung_up_relative"
    # The end screen's clock says it is over.
    assert kiosk_clock == "00:00"


# A slow camera, as on a cheap phone or behind the browser's prompt; the page's socket and
# getUserMedia leave their marks in order. The camera is ready only
# once a socket has opened, however long the page and the machine take to open one (a
# page that waits for the camera first would wait 10 s, then come out in the wrong order).
SLOW_CAMERA = """
(() => {
  const marks = (window.__marks = []);
  let socketOpened;
  const opened = new Promise((resolve) => (socketOpened = resolve));
  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    marks.push("camera asked");
    const stream = await getUserMedia(constraints);
    await Promise.race([opened, new Promise((resolve) => setTimeout(resolve, 10000))]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    marks.push("camera ready");
    return stream;
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("open", () => {
        marks.push("socket open");
        socketOpened();
      });
    }
    send(data) {
      const type = JSON.parse(data).type;
      if (type === "hello") marks.push("hello");
      super.send(data);
    }
  };
})();
"""


def test_the_socket_opens_while_the_camera_starts_and_hello_waits_for_it(stack, e2e_runner):
    ready = ready_call()

    async def scenario():
        async with Browsers() as browsers:
            _, relative = await live_call(
                browsers, stack.base_url, ready, stack.outbox, relative_init_script=SLOW_CAMERA
            )
            return await relative.evaluate("() => window.__marks")

    marks = stack.run(e2e_runner, scenario())
    # The handshake happened during the camera's start, not after it; the server heard
    # nothing until the media were there, and the call came up.
    assert marks[:4] == ["camera asked", "socket open", "camera ready", "hello"], marks


# The local UDP ports of the page's media: those its selected candidate pairs use.
MEDIA_PORTS = """async () => {
  const ports = [];
  for (const pc of [window.parloirCall.publisher, window.parloirCall.subscriber]) {
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
      const pair = stats.get(s.selectedCandidatePairId);
      ports.push(stats.get(pair.localCandidateId).port);
    });
  }
  return ports;
}"""

FRAMES_DECODED = """async () => {
  let frames = 0;
  const pc = window.parloirCall.subscriber;
  if (!pc) return 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0;
  });
  return frames;
}"""


async def _decoding(page, seconds: float = 2) -> int:
    """Video frames the page's current subscriber decoded over ``seconds``."""
    before = await page.evaluate(FRAMES_DECODED)
    await page.wait_for_timeout(seconds * 1000)
    return await page.evaluate(FRAMES_DECODED) - before


WATCH_MEDIA = """([setupMs, lostMs]) => {
  window.parloirCall.mediaSetupMs = setupMs;
  window.parloirCall.mediaLostMs = lostMs;
  window.mediaEvents = [];
  for (const type of ['media-retry', 'media-restored']) {
    window.parloirCall.addEventListener(
      type, (e) => window.mediaEvents.push({ type, ...e.detail }));
  }
}"""
RESTORED = "() => window.mediaEvents.some((e) => e.type === 'media-restored')"


async def _kiosk_sees_the_relative_again(kiosk, relative) -> None:
    # The relative publishes anew; the kiosk is offered the new feed once it is up.
    await relative.wait_for_function(
        "() => window.parloirCall.publisher?.connectionState === 'connected'", timeout=30000
    )
    for _ in range(20):
        if await _decoding(kiosk, 1) > 5:
            return


def test_media_that_stop_while_the_socket_holds_are_set_up_again(stack, e2e_runner):
    """UDP stops mid-call, the WebSocket does not: the page gives its PeerConnections up and
    joins again with new ones, instead of both sides waiting on a frozen picture."""
    ready = ready_call()

    async def scenario(browsers):
        kiosk, relative = await live_call(browsers, stack.base_url, ready, stack.outbox)
        await relative.evaluate(WATCH_MEDIA, [30000, 2000])
        ports = await relative.evaluate(MEDIA_PORTS)
        # The network stops the relative's media; its socket (TCP) still goes through.
        stack.netns.drop_udp(ports)
        try:
            await relative.wait_for_function("() => window.mediaEvents.length > 0", timeout=30000)
            await relative.wait_for_function(RESTORED, timeout=30000)
        finally:
            # New media use new ports, which the rule lets through; it goes all the same.
            stack.netns.allow_udp()
        await wait_call_state(relative, ["live"])
        await _kiosk_sees_the_relative_again(kiosk, relative)
        return {
            "ports": ports,
            "new_ports": await relative.evaluate(MEDIA_PORTS),
            "events": await relative.evaluate("() => window.mediaEvents"),
            "relative_frames": await _decoding(relative),
            "kiosk_frames": await _decoding(kiosk),
            "status": await relative.locator("#status").inner_text(),
        }

    seen = in_browsers(stack, e2e_runner, scenario, timeout=120)
    retry = seen["events"][0]
    # Given up because the media stopped (the socket never dropped)...
    assert retry["type"] == "media-retry", seen
    assert retry["reason"] in {"lost", "failed"}, seen
    assert retry["attempt"] == 1 and not retry["trouble"], seen
    # ...then set up again on new ports: pictures flow both ways, in the same live call.
    assert not set(seen["new_ports"]) & set(seen["ports"]), seen
    assert seen["relative_frames"] > 10, seen
    assert seen["kiosk_frames"] > 10, seen
    assert seen["status"] == "Appel en cours"
    assert Call.objects.get(booking=ready.booking).state == Call.State.LIVE


def test_the_page_says_the_connection_is_the_problem_until_the_media_come_back(stack, e2e_runner):
    """UDP stays blocked for the relative: attempts fail in a row, the page says why and what
    to try, and the message goes once the media are back."""
    ready = ready_call()
    trouble = "L'image et le son ne passent pas par cette connexion."

    async def scenario(browsers):
        kiosk, relative = await live_call(browsers, stack.base_url, ready, stack.outbox)
        await relative.evaluate(WATCH_MEDIA, [3000, 1000])
        kiosk_ports = await kiosk.evaluate(MEDIA_PORTS)
        # Everything but the kiosk's media: the relative's new attempts fail as well.
        stack.netns.drop_udp(kiosk_ports, all_but=True)
        try:
            await relative.wait_for_function(
                "() => window.mediaEvents.some((e) => e.trouble)", timeout=40000
            )
            alert_during = await relative.locator("#alert").inner_text()
            shown_during = await relative.locator("#alert").is_visible()
        finally:
            stack.netns.allow_udp()
        await relative.wait_for_function(RESTORED, timeout=40000)
        await wait_call_state(relative, ["live"])
        await _kiosk_sees_the_relative_again(kiosk, relative)
        return {
            "events": await relative.evaluate("() => window.mediaEvents"),
            "alert_during": alert_during,
            "shown_during": shown_during,
            "shown_after": await relative.locator("#alert").is_visible(),
            "kiosk_frames": await _decoding(kiosk),
            "relative_frames": await _decoding(relative),
        }

    seen = in_browsers(stack, e2e_runner, scenario, timeout=150)
    retries = [e for e in seen["events"] if e["type"] == "media-retry"]
    assert [e["attempt"] for e in retries[:2]] == [1, 2], seen
    assert not retries[0]["trouble"] and retries[1]["trouble"], seen
    assert seen["shown_during"] and trouble in seen["alert_during"], seen
    assert not seen["shown_after"], seen
    assert seen["relative_frames"] > 10 and seen["kiosk_frames"] > 10, seen
    assert Call.objects.get(booking=ready.booking).state == Call.State.LIVE


def _relatives_in_the_call(ready) -> int:
    call = Call.objects.get(booking=ready.booking)
    return call.participants.filter(role="relative", left_at__isnull=True).count()


async def _taken_over(kiosk, older, newer) -> dict:
    """The older page of the relative leaves, told why; the newer one has the call."""
    await older.wait_for_url("**/fin?ailleurs=1", timeout=15000)
    told = {
        "heading": await older.locator("h1").inner_text(),
        "told": await older.locator("#end-reason").inner_text(),
    }
    await wait_remote_playing(newer)
    await _kiosk_sees_the_relative_again(kiosk, newer)
    return {**told, "kiosk_frames": await _decoding(kiosk), "newer_frames": await _decoding(newer)}


def test_a_duplicated_tab_takes_the_call_and_the_first_one_leaves(stack, e2e_runner):
    """A duplicated tab carries the first one's resume token: the newer page has the side,
    the older one is told and leaves, and the kiosk sees the newer one."""
    ready = ready_call()

    async def scenario(browsers):
        kiosk, relative = await live_call(browsers, stack.base_url, ready, stack.outbox)
        call_id = await relative.evaluate("() => window.parloirCall.callId")
        token = await relative.evaluate(f"() => sessionStorage.getItem('parloir.resume.{call_id}')")
        duplicate = await relative.context.new_page()
        # What "Duplicate tab" does: the same session storage in a new page.
        await duplicate.add_init_script(
            f"sessionStorage.setItem('parloir.resume.{call_id}', {token!r})"
        )
        await duplicate.goto(relative.url)
        seen = await _taken_over(kiosk, relative, duplicate)
        seen["resumed"] = await duplicate.evaluate("() => window.parloirCall.resumeToken") == token
        return seen

    seen = in_browsers(stack, e2e_runner, scenario, timeout=120)
    assert seen["resumed"], "the duplicate should have resumed the same participant"
    assert seen["told"] == "L'appel continue dans un autre onglet ou sur un autre appareil."
    assert seen["kiosk_frames"] > 10 and seen["newer_frames"] > 10, seen
    assert _relatives_in_the_call(ready) == 1
    assert Call.objects.get(booking=ready.booking).state == Call.State.LIVE


def test_a_second_device_takes_the_call_while_the_first_is_still_in_it(stack, e2e_runner):
    """The relative opens the link again on another phone while the first one is still in
    the call: the second asks for a new code (the used one lets back in only the browser
    that used it), accepts the consents there, and the first is told and leaves."""
    ready = ready_call()

    async def scenario(browsers):
        kiosk, relative = await live_call(browsers, stack.base_url, ready, stack.outbox)
        link, _code = last_code(stack.outbox)
        second = await (await browsers.context(stack.base_url)).new_page()
        await new_device_joins(second, link, stack.outbox)
        return await _taken_over(kiosk, relative, second)

    seen = in_browsers(stack, e2e_runner, scenario, timeout=120)
    assert seen["heading"] == "Appel ouvert ailleurs"
    assert seen["kiosk_frames"] > 10 and seen["newer_frames"] > 10, seen
    assert _relatives_in_the_call(ready) == 1
    assert Call.objects.get(booking=ready.booking).state == Call.State.LIVE


SHOWN_ALERT = (
    "() => { const a = document.getElementById('alert'); return a.hidden ? null : a.textContent; }"
)
PEER_LEFT = "Votre interlocuteur a perdu la connexion. Il peut revenir."


def test_the_kiosk_keeps_its_media_while_the_relative_is_away(stack, e2e_runner):
    """The relative's phone dies: Janus renegotiates the kiosk's subscription without that
    feed. The kiosk answers on the connection it has; nothing there is given up, and the
    relative, back, is seen again."""
    ready = ready_call()

    async def scenario(browsers):
        kiosk, relative = await live_call(browsers, stack.base_url, ready, stack.outbox)
        # A connection that did not connect within 3 s would be given up.
        await kiosk.evaluate(WATCH_MEDIA, [3000, 2000])
        await kiosk.evaluate(
            """() => {
              // Whether each renegotiation kept the connection the kiosk had. This listener
              // runs after the client's, which replaces a subscriber at once, before
              // its first await, when it builds a new one.
              window.renegotiations = [];
              const before = window.parloirCall.subscriber;
              window.parloirCall.ws.addEventListener('message', (e) => {
                if (!JSON.parse(e.data).renegotiate) return;
                window.renegotiations.push(window.parloirCall.subscriber === before);
              });
            }"""
        )
        link, code = last_code(stack.outbox)
        await relative.context.close()
        await kiosk.wait_for_timeout(8000)
        away = await kiosk.evaluate("() => window.mediaEvents")
        states = await kiosk.evaluate(
            "() => [window.parloirCall.publisher.connectionState,"
            " window.parloirCall.subscriber.connectionState]"
        )
        again = await (await browsers.context(stack.base_url)).new_page()
        await new_device_joins(again, link, stack.outbox)
        await wait_remote_playing(again)
        await _kiosk_sees_the_relative_again(kiosk, again)
        return {
            "away": away,
            # Janus renegotiates once the relative's old media are destroyed, as they
            # join again.
            "renegotiated": await kiosk.evaluate("() => window.renegotiations"),
            "states": states,
            "events": await kiosk.evaluate("() => window.mediaEvents"),
            "kiosk_frames": await _decoding(kiosk),
        }

    seen = in_browsers(stack, e2e_runner, scenario, timeout=120)
    assert seen["away"] == [], seen
    # Janus renegotiated the subscription without the old feed: same connection.
    assert seen["renegotiated"] and all(seen["renegotiated"]), seen
    assert seen["states"] == ["connected", "connected"], seen
    assert seen["events"] == [], seen
    assert seen["kiosk_frames"] > 10, seen


def _m_lines_moved(sdp: str) -> str:
    """The offer with its first media section moved last, which a browser refuses in a
    renegotiation (the order of m-lines must not change): an offer it cannot apply."""
    session, *sections = sdp.split("\r\nm=")
    sections = sections[1:] + sections[:1]
    return "\r\nm=".join([session, *sections])


def _spoil_first(frames: list, matches, spoil):
    """A WebSocket route that passes everything but spoils the first server frame that
    ``matches`` (noted in ``frames``)."""

    async def route(ws):
        server = ws.connect_to_server()

        def from_server(message):
            frame = json.loads(message)
            if matches(frame) and not frames:
                frames.append(frame)
                message = json.dumps(spoil(frame))
            ws.send(message)

        server.on_message(from_server)

    return route


# Set before the page's scripts run: the call client's events from its very start.
RECORD_CLIENT_EVENTS = """(() => {
  window.clientEvents = [];
  Object.defineProperty(window, "parloirCall", {
    configurable: true,
    set(client) {
      Object.defineProperty(window, "parloirCall", { value: client, writable: true });
      for (const type of ["welcome", "negotiation-error", "media-retry", "media-restored"]) {
        client.addEventListener(type, (e) => window.clientEvents.push({ type, ...e.detail }));
      }
    },
  });
})()"""
EVENTS_OF = "(types) => window.clientEvents.filter((e) => types.includes(e.type))"


def test_a_renegotiation_the_kiosk_cannot_apply_costs_it_nothing(stack, e2e_runner):
    """The browser refuses Janus's renegotiated offer (a feed left). That subscription is
    replaced anyway once the other side is back, so the kiosk keeps its connections,
    what it sends included, and sees the relative again."""
    ready = ready_call()
    spoiled = []
    route = _spoil_first(
        spoiled,
        lambda frame: frame.get("renegotiate"),
        lambda frame: {**frame, "sdp": _m_lines_moved(frame["sdp"])},
    )

    async def scenario(browsers):
        kiosk, relative = await live_call(browsers, stack.base_url, ready, stack.outbox)
        await kiosk.route_web_socket(re.compile(r"/ws/call/"), route)
        await kiosk.evaluate(
            """() => {
              window.clientEvents = [];
              window.publisherBefore = window.parloirCall.publisher;
              for (const type of ["welcome", "negotiation-error", "media-retry"]) {
                window.parloirCall.addEventListener(
                  type, (e) => window.clientEvents.push({ type, ...e.detail }));
              }
              // A socket blip: the next socket goes through the route, the media stay.
              window.parloirCall.ws.close();
            }"""
        )
        await kiosk.wait_for_function("() => window.clientEvents.some((e) => e.type === 'welcome')")
        link, code = last_code(stack.outbox)
        await relative.context.close()
        again = await (await browsers.context(stack.base_url)).new_page()
        await new_device_joins(again, link, stack.outbox)
        await kiosk.wait_for_function(
            "() => window.clientEvents.some((e) => e.type === 'negotiation-error')", timeout=30000
        )
        await wait_remote_playing(again)
        await _kiosk_sees_the_relative_again(kiosk, again)
        return {
            "events": await kiosk.evaluate(EVENTS_OF, ["negotiation-error", "media-retry"]),
            "same_publisher": await kiosk.evaluate(
                "() => window.parloirCall.publisher === window.publisherBefore"
            ),
            "publisher": await kiosk.evaluate("() => window.parloirCall.publisher.connectionState"),
            "kiosk_frames": await _decoding(kiosk),
            "relative_frames": await _decoding(again),
        }

    seen = in_browsers(stack, e2e_runner, scenario, timeout=120)
    assert spoiled and spoiled[0]["sdp"].count("\r\nm=") >= 2, spoiled
    # Refused and said, nothing set up again.
    assert [e["type"] for e in seen["events"]] == ["negotiation-error"], seen
    assert seen["events"][0]["renegotiate"] is True, seen
    assert seen["same_publisher"] and seen["publisher"] == "connected", seen
    assert seen["kiosk_frames"] > 10 and seen["relative_frames"] > 10, seen
    assert Call.objects.get(booking=ready.booking).state == Call.State.LIVE


async def _call_through_a_route(browsers, stack, ready, init_script: str, route):
    """The kiosk calls; the relative joins with ``init_script`` run first in its pages and
    its call sockets going through the WebSocket ``route``."""
    kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
    await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
    link, code = last_code(stack.outbox)
    context = await browsers.context(stack.base_url)
    await context.add_init_script(init_script)
    await context.route_web_socket(re.compile(r"/ws/call/"), route)
    relative = await context.new_page()
    await relative_joins(relative, link, code)
    return kiosk, relative


def _without_fingerprint(frame: dict) -> dict:
    """An offer a browser refuses: no DTLS fingerprint."""
    lines = [line for line in frame["sdp"].split("\r\n") if not line.startswith("a=fingerprint:")]
    return {**frame, "sdp": "\r\n".join(lines)}


def test_an_offer_the_page_cannot_apply_sets_its_media_up_again_at_once(stack, e2e_runner):
    """The relative's browser refuses its first subscribe offer: that connection would
    never connect, and the page sets its media up again at once instead of waiting for
    its watchdog (30 s) to give up on it."""
    ready = ready_call()
    spoiled = []
    route = _spoil_first(
        spoiled, lambda frame: frame.get("type") == "subscribe_offer", _without_fingerprint
    )

    async def scenario(browsers):
        kiosk, relative = await _call_through_a_route(
            browsers, stack, ready, RECORD_CLIENT_EVENTS, route
        )
        await relative.wait_for_function(
            "() => window.clientEvents.some((e) => e.type === 'media-restored')", timeout=30000
        )
        await wait_remote_playing(relative)
        await _kiosk_sees_the_relative_again(kiosk, relative)
        return {
            "events": await relative.evaluate(
                EVENTS_OF, ["negotiation-error", "media-retry", "media-restored"]
            ),
            "relative_frames": await _decoding(relative),
            "kiosk_frames": await _decoding(kiosk),
        }

    seen = in_browsers(stack, e2e_runner, scenario, timeout=90)
    assert spoiled, "no subscribe offer came"
    kinds = [e["type"] for e in seen["events"]]
    assert kinds == ["negotiation-error", "media-retry", "media-restored"], seen
    assert seen["events"][1]["reason"] == "negotiation", seen
    assert seen["relative_frames"] > 10 and seen["kiosk_frames"] > 10, seen
    assert Call.objects.get(booking=ready.booking).state == Call.State.LIVE


# A slow phone: its answers take a second to make. Those made for a connection closed in
# the meantime are counted.
SLOW_ANSWERS = """(() => {
  window.answersOnClosedConnections = 0;
  const createAnswer = RTCPeerConnection.prototype.createAnswer;
  RTCPeerConnection.prototype.createAnswer = async function (...args) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (this.signalingState === "closed") window.answersOnClosedConnections += 1;
    return createAnswer.apply(this, args);
  };
})()"""


def test_an_offer_replaced_by_a_newer_one_does_not_restart_the_media(stack, e2e_runner):
    """A second subscribe offer comes while the page still answers the first (the other
    side published again at once): it replaces the first one's connection, whose
    unfinished answer then fails. That is no reason to set the media up again."""
    ready = ready_call()
    doubled = []

    async def double_the_first_offer(ws):
        server = ws.connect_to_server()

        def from_server(message):
            ws.send(message)
            if json.loads(message).get("type") == "subscribe_offer" and not doubled:
                doubled.append(True)
                asyncio.get_running_loop().call_later(0.3, ws.send, message)

        server.on_message(from_server)

    async def scenario(browsers):
        kiosk, relative = await _call_through_a_route(
            browsers, stack, ready, SLOW_ANSWERS, double_the_first_offer
        )
        await wait_remote_playing(relative)
        await wait_remote_playing(kiosk)
        return {
            "on_closed": await relative.evaluate("() => window.answersOnClosedConnections"),
            "retries": await relative.evaluate(
                "() => document.getElementById('call').dataset.mediaRetries"
            ),
            "relative_frames": await _decoding(relative),
        }

    seen = in_browsers(stack, e2e_runner, scenario, timeout=90)
    assert doubled
    # The race took place: an answer was still being made when its connection closed.
    assert seen["on_closed"] >= 1, seen
    assert seen["retries"] is None, seen
    assert seen["relative_frames"] > 10, seen


def test_a_kiosk_page_replaced_by_a_newer_one_says_the_call_goes_on_there(stack, e2e_runner):
    """The call opened again on the kiosk (another tab): the newer page has the call, the
    older one goes back to the kiosk's home, which says so and offers to return."""
    ready = ready_call()

    async def scenario(browsers):
        kiosk, relative = await live_call(browsers, stack.base_url, ready, stack.outbox)
        newer = await kiosk.context.new_page()
        await newer.goto(kiosk.url)
        await kiosk.wait_for_url("**/kiosk/accueil?ailleurs=1", timeout=15000)
        await wait_remote_playing(newer)
        return {
            "told": await kiosk.locator("#open-elsewhere").inner_text(),
            "back": await kiosk.get_by_role(
                "link", name="Revenir à l'appel en cours"
            ).get_attribute("href"),
            "newer_url": newer.url,
            "relative_frames": await _decoding(relative),
        }

    seen = in_browsers(stack, e2e_runner, scenario, timeout=90)
    assert seen["told"] == "L'appel continue dans un autre onglet ou sur un autre appareil."
    assert seen["back"] == seen["newer_url"].removeprefix(stack.base_url), seen
    assert seen["relative_frames"] > 10, seen
    assert Call.objects.get(booking=ready.booking).state == Call.State.LIVE


WELCOMED_AGAIN_AFTER_A_DROP = """
() => new Promise((resolve) => {
  const client = window.parloirCall;
  client.addEventListener("welcome", () => resolve(true), { once: true });
  client.addEventListener("fatal", (e) => resolve(`fatal ${e.detail.reason || e.detail.code}`));
  setTimeout(() => resolve("no welcome within 15 s"), 15000);
  client.ws.close(4000);
})
"""


def test_a_kiosk_call_outlives_the_kiosks_idle_sign_out(stack, e2e_runner):
    """The kiosk signs its detainee out after PARLOIR_KIOSK_IDLE_SECONDS without a request
    (here 12 s), and the call page makes none of its own: a reconnection past that
    moment found no detainee, was refused, and threw the detainee out of a live call.
    The page's heartbeat keeps the session (and its cookie) alive."""
    ready = ready_call()
    stack.extra_env["PARLOIR_KIOSK_IDLE_SECONDS"] = "12"
    stack.restart_web()
    stack.wake_web()

    async def scenario(browsers):
        kiosk, relative = await live_call(browsers, stack.base_url, ready, stack.outbox)
        call_url = kiosk.url
        await asyncio.sleep(16)
        # A network blip: the kiosk's socket drops and the page says hello again.
        try:
            welcomed = await kiosk.evaluate(WELCOMED_AGAIN_AFTER_A_DROP)
        except PlaywrightError as exc:  # the page left (its context destroyed by the navigation)
            welcomed = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(1)
        return call_url, kiosk.url, welcomed

    before, after, welcomed = in_browsers(stack, e2e_runner, scenario, timeout=120)
    assert after == before, f"the kiosk left its call for {after}"
    assert welcomed is True, welcomed
    assert Call.objects.get(booking=ready.booking).state == Call.State.LIVE


def _first_offer_becomes(frames: list, replace):
    """A WebSocket route that passes everything but puts the frames ``replace(offer)``
    in place of the first subscribe_offer (noted in ``frames``)."""

    async def route(ws):
        server = ws.connect_to_server()

        def from_server(message):
            frame = json.loads(message)
            if frame.get("type") == "subscribe_offer" and not frames:
                frames.append(frame)
                for sent in replace(frame):
                    ws.send(json.dumps(sent))
                return
            ws.send(message)

        server.on_message(from_server)

    return route


def test_a_subscription_that_failed_after_the_welcome_is_set_up_again(stack, e2e_runner):
    """Janus failed while the server subscribed the relative to the kiosk (after its
    welcome): the page gets an error and no offer, so no connection's watchdog would ever
    fire. It must set its media up again rather than stay on a black picture."""
    ready = ready_call()
    failed = []
    error = {"type": "error", "code": "media_error", "message": "Janus", "fatal": False}
    route = _first_offer_becomes(failed, lambda offer: [error])

    async def scenario(browsers):
        kiosk, relative = await _call_through_a_route(
            browsers, stack, ready, RECORD_CLIENT_EVENTS, route
        )
        await wait_remote_playing(relative, timeout_ms=30000)
        await _kiosk_sees_the_relative_again(kiosk, relative)
        return {
            "events": await relative.evaluate(EVENTS_OF, ["media-retry"]),
            "relative_frames": await _decoding(relative),
        }

    seen = in_browsers(stack, e2e_runner, scenario, timeout=120)
    assert failed, "the route never saw an offer to replace"
    assert [(e["pc"], e["reason"]) for e in seen["events"]] == [("subscriber", "media_error")]
    assert seen["relative_frames"] > 10, seen


RECORD_ALERTS = """document.addEventListener("DOMContentLoaded", () => {
  window.alertsShown = [];
  const alert = document.getElementById("alert");
  if (!alert) return;
  new MutationObserver(() => { if (!alert.hidden) window.alertsShown.push(alert.textContent); })
    .observe(alert, { attributes: true, childList: true, characterData: true, subtree: true });
});"""


def test_the_peer_left_warning_goes_once_the_other_side_is_seen_again(stack, e2e_runner):
    """'Votre interlocuteur a perdu la connexion' must not stay on screen while the two
    talk again: here the relative is told the kiosk left just before the kiosk's offer."""
    ready = ready_call()
    seen_offer = []
    left = {"type": "peer", "role": "kiosk", "status": "left"}
    route = _first_offer_becomes(seen_offer, lambda offer: [left, offer])

    async def scenario(browsers):
        kiosk, relative = await _call_through_a_route(browsers, stack, ready, RECORD_ALERTS, route)
        await wait_remote_playing(relative)
        return await relative.evaluate("() => window.alertsShown"), await relative.evaluate(
            SHOWN_ALERT
        )

    shown, still = in_browsers(stack, e2e_runner, scenario, timeout=120)
    assert seen_offer and PEER_LEFT in shown, shown
    assert still != PEER_LEFT


PEER_LOW = "() => document.getElementById('call').dataset.peerLowBandwidth === {}"


def test_the_low_bandwidth_mode_survives_a_reload_and_a_change_made_offline(stack, e2e_runner):
    """The other side sends little video while this side asks for it, and only then: a
    reloaded page keeps its mode, and unticking it while the socket is down still reaches
    the other side once the socket is back (else: a tiny picture for the rest of the call)."""
    ready = ready_call()

    async def scenario(browsers):
        kiosk, relative = await live_call(browsers, stack.base_url, ready, stack.outbox)
        await relative.check("#low-bandwidth")
        await kiosk.wait_for_function(PEER_LOW.format("'on'"), timeout=10000)
        await relative.reload()
        await wait_remote_playing(relative)
        kept = await relative.is_checked("#low-bandwidth")
        await kiosk.wait_for_function(PEER_LOW.format("'on'"), timeout=10000)
        # The socket drops; the relative unticks the box before it is back.
        await relative.evaluate("() => window.parloirCall.ws.close(4000)")
        await relative.uncheck("#low-bandwidth")
        await kiosk.wait_for_function(PEER_LOW.format("'off'"), timeout=15000)
        return kept

    assert in_browsers(stack, e2e_runner, scenario, timeout=120) is True


def _first_socket_goes_silent(state: dict):
    """A WebSocket route whose first connection stops carrying anything, both ways, once
    ``state["silent"]`` is set, without closing: a route that died without a reset."""

    async def route(ws):
        state["connections"] = state.get("connections", 0) + 1
        first = state["connections"] == 1
        server = ws.connect_to_server()

        def from_server(message):
            if not (first and state.get("silent")):
                ws.send(message)

        def from_page(message):
            if not (first and state.get("silent")):
                server.send(message)

        server.on_message(from_server)
        ws.on_message(from_page)

    return route


def test_a_socket_that_went_silent_is_replaced_without_waiting_for_the_browser(stack, e2e_runner):
    """The page's socket stops carrying frames without closing (the browser would notice
    only tens of seconds later, and staff's notices sent meanwhile would be lost): the
    page's unanswered ping has it open a new socket, and the call goes on."""
    ready = ready_call()
    state: dict = {}
    route = _first_socket_goes_silent(state)

    async def scenario(browsers):
        kiosk, relative = await _call_through_a_route(
            browsers, stack, ready, RECORD_CLIENT_EVENTS, route
        )
        await wait_remote_playing(relative)
        await wait_remote_playing(kiosk)
        state["silent"] = True
        # One ping every 10 s, given up after 20 s unanswered: about 30 s; the browser
        # alone would take minutes.
        await relative.wait_for_function(
            "() => window.clientEvents.filter((e) => e.type === 'welcome').length >= 2",
            timeout=45000,
        )
        await wait_remote_playing(relative)
        return state["connections"], await _decoding(relative)

    connections, frames = in_browsers(stack, e2e_runner, scenario, timeout=120)
    assert connections == 2
    assert frames > 10
    assert Call.objects.get(booking=ready.booking).state == Call.State.LIVE


def _after_the_welcome(extra: dict):
    """A WebSocket route that passes everything and sends ``extra`` after the welcome."""

    async def route(ws):
        server = ws.connect_to_server()

        def from_server(message):
            ws.send(message)
            if json.loads(message).get("type") == "welcome":
                ws.send(json.dumps(extra))

        server.on_message(from_server)

    return route


def test_the_kiosk_shows_the_channel_the_code_goes_by_now(stack, e2e_runner):
    """An SMS that found no phone falls back to a voice call: the kiosk's 'code' frame
    says so, and the detainee reads it instead of the channel the page was opened with."""
    ready = ready_call()
    expires = (timezone.now() + timedelta(minutes=5)).isoformat()
    fallback = {
        "type": "code",
        "call": 0,  # the page does not read it
        "expires_at": expires,
        "message_status": "queued",
        "channel": "voice",
    }

    async def scenario(browsers):
        kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
        await kiosk.context.route_web_socket(re.compile(r"/ws/call/"), _after_the_welcome(fallback))
        await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
        await kiosk.wait_for_function(
            "() => document.getElementById('message-channel').dataset.channel === 'voice'",
            timeout=15000,
        )
        return await kiosk.locator("#message-channel").inner_text()

    assert in_browsers(stack, e2e_runner, scenario, timeout=60) == "Appel vocal"
