"""Failures of the platform itself, with real browsers: Janus dies, parloir restarts."""

import asyncio
import time

import pytest

from calls.models import Call, CallCode
from calls.tests.helpers import ready_call
from media.models import MediaNode
from tests.e2e.browser import (
    browsers_on,
    kiosk_page,
    kiosk_sign_in_and_call,
    live_call,
    wait_call_state,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

CURRENT_TIME = "() => document.getElementById('remote').currentTime"
MARK_CONNECTIONS = """() => {
  window.parloirCall.publisher.keptThroughRestart = true;
  window.parloirCall.subscriber.keptThroughRestart = true;
}"""
CONNECTIONS_KEPT = """() => window.parloirCall.publisher.keptThroughRestart === true
  && window.parloirCall.subscriber.keptThroughRestart === true"""


def test_both_sides_know_within_5_seconds_when_janus_dies(stack, e2e_runner):
    ready = ready_call()
    with browsers_on(e2e_runner) as browsers:
        kiosk, relative = stack.run(
            e2e_runner, live_call(browsers, stack.base_url, ready, stack.outbox)
        )
        died_at = stack.janus.kill()

        async def both_told():
            states = [await wait_call_state(p, ["media_failed"], 8000) for p in (kiosk, relative)]
            told_after = time.monotonic() - died_at
            alerts = [await p.locator("#alert").inner_text() for p in (kiosk, relative)]
            return states, told_after, alerts

        states, told_after, alerts = stack.run(e2e_runner, both_told())
    assert states == ["media_failed", "media_failed"]
    assert told_after < 5
    assert all("serveur vidéo est en panne" in alert for alert in alerts)
    call = Call.objects.get(booking=ready.booking)
    assert call.state == Call.State.MEDIA_FAILED
    assert call.lost_seconds > 0
    assert call.charged_cents == 0


def test_media_keeps_flowing_and_clients_reattach_when_parloir_restarts(stack, e2e_runner):
    ready = ready_call()
    with browsers_on(e2e_runner) as browsers:
        kiosk, relative = stack.run(
            e2e_runner, live_call(browsers, stack.base_url, ready, stack.outbox)
        )

        async def mark_connections():
            # Marks on the PeerConnections show afterwards that they were kept, not rebuilt.
            for page in (kiosk, relative):
                await page.evaluate(MARK_CONNECTIONS)
            return [await p.evaluate(CURRENT_TIME) for p in (kiosk, relative)]

        before = stack.run(e2e_runner, mark_connections())
        stack.restart_web()  # SIGKILL, as a crash, then a new process

        async def reattached():
            # Both browsers open a new socket to the new process on their own.
            for _ in range(200):
                if stack.log_since_restart().count("WSCONNECT /ws/call/") >= 2:
                    break
                await asyncio.sleep(0.1)
            kept = []
            for page, position in zip((kiosk, relative), before, strict=True):
                # The socket comes back (welcome again) and the page says the call goes on.
                await page.wait_for_function(
                    "() => document.getElementById('call').dataset.status === 'Appel en cours'"
                    " && document.getElementById('call').dataset.state === 'live'",
                    timeout=20000,
                )
                # The picture plays on, from where it was.
                await page.wait_for_function(
                    f"() => document.getElementById('remote').currentTime > {position} + 1",
                    timeout=10000,
                )
                kept.append(await page.evaluate(CONNECTIONS_KEPT))
            return kept

        kept = stack.run(e2e_runner, reattached())
    # Media never depended on the web process: the same PeerConnections carried on.
    assert kept == [True, True]
    call = Call.objects.get(booking=ready.booking)
    assert call.state == Call.State.LIVE
    assert CallCode.objects.filter(call=call).count() == 1  # no new code was needed
    assert stack.log_since_restart().count("WSCONNECT /ws/call/") >= 2


def test_a_kiosk_with_no_video_server_is_told_so_and_joins_once_one_is_back(stack, e2e_runner):
    ready = ready_call()
    MediaNode.objects.update(state=MediaNode.State.DRAINING)
    retries = "() => Number(document.getElementById('call').dataset.mediaRetries || 0)"
    no_server = "() => document.getElementById('alert').textContent.includes('Aucun serveur vidéo')"

    async def kiosk_told(browsers):
        kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
        await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
        await kiosk.wait_for_function(no_server, timeout=10000)
        # The page tries again by itself, and says the same between tries.
        await kiosk.wait_for_function(f"() => ({retries})() >= 2", timeout=15000)
        return kiosk, await kiosk.locator("#alert").inner_text()

    async def kiosk_joins(kiosk):
        await kiosk.wait_for_function(
            "() => document.getElementById('alert').hidden", timeout=40000
        )
        return await kiosk.evaluate(retries)

    try:
        with browsers_on(e2e_runner) as browsers:
            kiosk, alert = stack.run(e2e_runner, kiosk_told(browsers))
            assert Call.objects.get(booking=ready.booking).janus_room is None
            MediaNode.objects.update(state=MediaNode.State.UP)
            tries = stack.run(e2e_runner, kiosk_joins(kiosk), timeout=60)
    finally:
        MediaNode.objects.update(state=MediaNode.State.UP)
    # The page's words, not the server's English message for developers.
    assert "Aucun serveur vidéo" in alert and "No video server" not in alert
    assert tries >= 2
    # No reload, no new sign-in: the same page joined once a video server was back.
    assert Call.objects.get(booking=ready.booking).janus_room is not None
