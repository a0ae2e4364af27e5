"""Failures of the platform itself, with real browsers: Janus dies, parloir restarts."""

import asyncio
import time

import pytest

from calls.models import Call, CallCode
from calls.tests.helpers import ready_call
from tests.e2e.browser import Browsers, live_call, wait_call_state

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

CURRENT_TIME = "() => document.getElementById('remote').currentTime"


def test_both_sides_know_within_5_seconds_when_janus_dies(stack, e2e_runner):
    ready = ready_call()
    browsers = stack.run(e2e_runner, Browsers().__aenter__())
    try:
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
    finally:
        stack.run(e2e_runner, browsers.__aexit__(None, None, None))
    assert states == ["media_failed", "media_failed"]
    assert told_after < 5
    assert all("serveur vidéo est en panne" in alert for alert in alerts)
    call = Call.objects.get(booking=ready.booking)
    assert call.state == Call.State.MEDIA_FAILED
    assert call.lost_seconds > 0
    assert call.charged_cents == 0


def test_media_keeps_flowing_and_clients_reattach_when_parloir_restarts(stack, e2e_runner):
    ready = ready_call()
    browsers = stack.run(e2e_runner, Browsers().__aenter__())
    try:
        kiosk, relative = stack.run(
            e2e_runner, live_call(browsers, stack.base_url, ready, stack.outbox)
        )

        async def playback_positions():
            return [await p.evaluate(CURRENT_TIME) for p in (kiosk, relative)]

        before = stack.run(e2e_runner, playback_positions())
        stack.restart_web()  # SIGKILL, as a crash, then a new process

        async def reattached():
            # Both browsers open a new socket to the new process on their own.
            for _ in range(200):
                if stack.log_since_restart().count("WSCONNECT /ws/call/") >= 2:
                    break
                await asyncio.sleep(0.1)
            for page in (kiosk, relative):
                # The socket comes back (welcome again) and the page says the call goes on.
                await page.wait_for_function(
                    "() => document.getElementById('call').dataset.status === 'Appel en cours'"
                    " && document.getElementById('call').dataset.state === 'live'",
                    timeout=20000,
                )
            return await playback_positions()

        after = stack.run(e2e_runner, reattached())
    finally:
        stack.run(e2e_runner, browsers.__aexit__(None, None, None))
    # Playback went on through the restart: media never depended on the web process.
    assert after[0] > before[0] + 1 and after[1] > before[1] + 1
    call = Call.objects.get(booking=ready.booking)
    assert call.state == Call.State.LIVE
    assert CallCode.objects.filter(call=call).count() == 1  # no new code was needed
    assert stack.log_since_restart().count("WSCONNECT /ws/call/") >= 2
