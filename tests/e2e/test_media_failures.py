"""Failures of the platform itself, with real browsers: Janus dies, parloir restarts."""

import asyncio
import time
from datetime import timedelta

import pytest

from calls.models import Call, CallCode, MediaOutage
from calls.tests.helpers import ready_call
from media.models import MediaNode
from media.placement import drain, undrain
from tests.e2e.browser import (
    browsers_on,
    kiosk_page,
    kiosk_sign_in_and_call,
    last_code,
    live_call,
    page_clock,
    seconds_until_mark,
    told_and_back,
    wait_call_state,
    wait_remote_playing,
    watch,
    watch_frames,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

CURRENT_TIME = "() => document.getElementById('remote').currentTime"
MARK_CONNECTIONS = """() => {
  window.parloirCall.publisher.keptThroughRestart = true;
  window.parloirCall.subscriber.keptThroughRestart = true;
}"""
CONNECTIONS_KEPT = """() => window.parloirCall.publisher.keptThroughRestart === true
  && window.parloirCall.subscriber.keptThroughRestart === true"""


def test_a_janus_killed_and_restarted_at_once_costs_seconds_that_are_given_back(stack, e2e_runner):
    """kill -9 then restart: both pages are told the video server restarts, set their media
    up again by themselves, in a new room, and the seconds come back on the clock."""
    ready = ready_call()
    with browsers_on(e2e_runner) as browsers:
        kiosk, relative = stack.run(
            e2e_runner, live_call(browsers, stack.base_url, ready, stack.outbox)
        )
        stack.run(e2e_runner, watch_frames((kiosk, relative)))
        deadline_before = Call.objects.get(booking=ready.booking).deadline
        stack.janus.kill()
        since = stack.run(e2e_runner, _clocks(kiosk, relative))
        stack.janus.start()
        told, back = stack.run(
            e2e_runner,
            told_and_back((kiosk, relative), since, told="Le serveur vidéo redémarre"),
        )
        state = stack.run(e2e_runner, wait_call_state(kiosk, ["live"]))
        call = _wait_outage_closed(ready)
    print(f"Janus restart: told after {told}, media back after {back} s")
    assert state == "live"
    assert max(told) < 3, f"told {told} s after the crash"
    assert max(back) < 8, f"media back {back} s after the crash"
    outage = call.outages.get()
    assert outage.cause == MediaOutage.Cause.MEDIA_RESTART
    # Every second without media went back on the clock (the room has nothing after it).
    assert outage.lost_seconds == 0 and outage.given_back_seconds == outage.seconds
    assert outage.seconds <= max(back) + 1
    assert call.deadline == deadline_before + timedelta(seconds=outage.seconds)
    assert call.rooms.count() == 2 and call.media_epoch == 1
    assert CallCode.objects.filter(call=call).count() == 1  # no new code


def test_a_call_whose_node_dies_moves_to_the_other_node(stack, e2e_runner, tmp_path):
    ready = ready_call()
    second = stack.sibling_janus(tmp_path / "janus-b", "e2e-node-b")
    second.start()
    try:
        with browsers_on(e2e_runner) as browsers:
            kiosk, relative = stack.run(
                e2e_runner, live_call(browsers, stack.base_url, ready, stack.outbox)
            )
            first_node = Call.objects.get(booking=ready.booking).media_node
            other = stack.register_node(second)
            stack.wait_node_up(other)
            stack.run(e2e_runner, watch_frames((kiosk, relative)))
            stack.janus.kill()  # and stays dead
            since = stack.run(e2e_runner, _clocks(kiosk, relative))
            told, back = stack.run(
                e2e_runner,
                told_and_back((kiosk, relative), since, told="Le serveur vidéo redémarre"),
            )
            call = _wait_outage_closed(ready)
    finally:
        second.stop()
    print(f"Node lost: told after {told}, media back after {back} s")
    assert max(told) < 3.5, f"told {told} s after the node died"
    assert max(back) < 9, f"media back {back} s after the node died"
    assert call.media_node == other and call.state == Call.State.LIVE
    assert [r.node_id for r in call.rooms.all()] == [first_node.pk, other.pk]
    outage = call.outages.get()
    assert outage.cause == MediaOutage.Cause.NODE_DOWN
    assert outage.given_back_seconds == outage.seconds and outage.lost_seconds == 0


def test_a_call_with_no_video_server_waits_and_resumes_by_itself(stack, e2e_runner):
    """The only node dies for a while: the call does not end; both pages say the video
    server reconnects and the clock stands still; Janus comes back and the call goes on,
    with every second given back."""
    ready = ready_call()
    with browsers_on(e2e_runner) as browsers:
        kiosk, relative = stack.run(
            e2e_runner, live_call(browsers, stack.base_url, ready, stack.outbox)
        )
        stack.run(e2e_runner, watch_frames((kiosk, relative)))
        died_at = stack.janus.kill()

        async def waiting():
            for page in (kiosk, relative):
                await page.wait_for_function(
                    "() => document.getElementById('call').dataset.mediaOutage === 'on'"
                    " && document.getElementById('alert').textContent"
                    ".includes('Reconnexion au serveur vidéo')",
                    timeout=20000,
                )
            clocks = [await p.locator("#time-left").inner_text() for p in (kiosk, relative)]
            # The clock stands still while the media are down.
            await kiosk.wait_for_timeout(2500)
            later = [await p.locator("#time-left").inner_text() for p in (kiosk, relative)]
            return clocks, later

        clocks, later = stack.run(e2e_runner, waiting())
        assert Call.objects.get(booking=ready.booking).is_open
        back_at = time.monotonic()
        since = stack.run(e2e_runner, _clocks(kiosk, relative))
        stack.janus.start()
        _told, back = stack.run(
            e2e_runner,
            told_and_back((kiosk, relative), since, told="Reconnexion au serveur vidéo"),
        )
        call = _wait_outage_closed(ready)
    down_for = back_at - died_at
    print(f"No node for {down_for:.1f} s; media back {back} s after Janus restarted")
    assert clocks == later
    assert max(back) < 8
    outage = call.outages.get()
    assert outage.seconds >= int(down_for)
    assert outage.given_back_seconds == outage.seconds and call.state == Call.State.LIVE


async def _clocks(*pages):
    return [await page_clock(page) for page in pages]


def _wait_outage_closed(ready, timeout: float = 20) -> Call:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        call = Call.objects.get(booking=ready.booking)
        if call.outages.exists() and not call.outages.filter(ended_at__isnull=True).exists():
            return call
        time.sleep(0.1)
    raise AssertionError(f"The outage of {call} never closed: {list(call.outages.values())}")


def test_the_kiosk_learns_within_3_seconds_that_the_relative_closed_the_page(stack, e2e_runner):
    """From what the server sees (the page's socket closed, nobody came back), not from a
    farewell the closing page may never send; and it learns when the relative is back."""
    ready = ready_call()
    with browsers_on(e2e_runner) as browsers:
        kiosk, relative = stack.run(
            e2e_runner, live_call(browsers, stack.base_url, ready, stack.outbox)
        )
        link, code = last_code(stack.outbox)

        async def close_then_come_back():
            context = relative.context
            closed_at = time.monotonic()
            await relative.close()
            await kiosk.wait_for_function(
                "() => document.getElementById('call').dataset.peer === 'left:closed'",
                timeout=10000,
            )
            told = time.monotonic() - closed_at
            alert = await kiosk.locator("#alert").inner_text()
            again = await context.new_page()
            await again.goto("/appel")
            await wait_remote_playing(again)
            await kiosk.wait_for_function(
                "() => ['media_up', 'back'].includes(document.getElementById('call').dataset.peer)",
                timeout=15000,
            )
            await wait_remote_playing(kiosk)
            return told, alert, await kiosk.locator("#alert").inner_text()

        told, alert, after = stack.run(e2e_runner, close_then_come_back())
    print(f"Page closed: the kiosk was told after {told:.2f} s")
    assert told < 3
    assert "fermé la page" in alert
    assert "de retour" in after
    assert Call.objects.get(booking=ready.booking).state == Call.State.LIVE


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
    """Every node drained: the kiosk says so and waits on its socket; the operator undrains
    a node and the page joins at once, told by the server, with no reload."""
    ready = ready_call()
    node = MediaNode.objects.get()
    drain(node)
    no_server = "() => document.getElementById('alert').textContent.includes('Aucun serveur vidéo')"

    async def kiosk_told(browsers):
        kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
        await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
        await kiosk.wait_for_function(no_server, timeout=10000)
        await watch(kiosk)
        return kiosk, await kiosk.locator("#alert").inner_text(), await page_clock(kiosk)

    async def kiosk_joins(kiosk, since):
        told = await seconds_until_mark(kiosk, "data-media-restarts=", since, timeout_ms=15000)
        await kiosk.wait_for_function(
            "() => document.getElementById('alert').hidden", timeout=15000
        )
        return told

    try:
        with browsers_on(e2e_runner) as browsers:
            kiosk, alert, since = stack.run(e2e_runner, kiosk_told(browsers))
            assert Call.objects.get(booking=ready.booking).janus_room is None
            undrain(node)
            told = stack.run(e2e_runner, kiosk_joins(kiosk, since), timeout=60)
    finally:
        undrain(node)
    # The page's words, not the server's English message for developers.
    assert "Aucun serveur vidéo" in alert and "No video server" not in alert
    # Not its next retry, 20 s later: the server told it.
    assert told < 5
    # No reload, no new sign-in: the same page joined once a video server was back.
    assert Call.objects.get(booking=ready.booking).janus_room is not None
