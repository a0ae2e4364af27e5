"""Node health against real Janus processes: up with its load, down within 5 s of a crash.

The checks run inside the namespace (runner.call) since that is where Janus
listens; the database is reached from there too, hence transactional tests.
"""

import asyncio
import io
import logging
import time

import pytest
from django.core.management import call_command

from media import health, rooms
from media.janus import CONNECTION_LOST, JanusClient, JanusConnectionLost
from media.models import MediaNode
from tests.media.flows import join, watch
from tests.media.harness import JanusProcess, Netns, NetnsRunner

pytestmark = [pytest.mark.media, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def node_for(settings):
    def make(janus: JanusProcess) -> MediaNode:
        settings.JANUS_ADMIN_SECRET = janus.admin_secret
        settings.JANUS_ROOM_ADMIN_KEY = janus.room_admin_key
        return MediaNode.objects.create(
            name=janus.config.node_name,
            ws_url=janus.ws_url,
            admin_ws_url=janus.admin_ws_url,
            recording_dir=str(janus.recording_dir),
        )

    return make


def _health_once(runner: NetnsRunner) -> str:
    out = io.StringIO()
    runner.call(lambda: call_command("media_health", "--once", stdout=out))
    return out.getvalue()


def test_it_marks_a_live_node_up_with_its_load(runner: NetnsRunner, start_janus, node_for):
    janus = start_janus()
    node = node_for(janus)
    assert node.state == MediaNode.State.DOWN

    async def open_room():
        async with JanusClient(janus.ws_url) as client:
            control = await (await client.create_session()).attach()
            await rooms.create_room(control, admin_key=janus.room_admin_key, record=False)
            await client.close()  # the room outlives the connection, as calls do

    runner.run(open_room())
    assert _health_once(runner) == f"{node.name}: up\n"
    node.refresh_from_db()
    assert (node.state, node.load, node.last_error) == (MediaNode.State.UP, 1, "")
    assert node.last_seen_at is not None
    assert _health_once(runner) == ""  # no transition, nothing to report


def test_it_notices_a_dead_janus_within_5_seconds(
    runner: NetnsRunner, start_janus, node_for, caplog
):
    janus = start_janus()
    node = node_for(janus)
    assert runner.call(health.check_once) == {node.name: "up"}

    async def call_then_crash():
        states: list[str] = []
        client = JanusClient(janus.ws_url, on_state=states.append)
        await client.connect()
        session = await client.create_session()
        control = await session.attach()
        room = await rooms.create_room(control, admin_key=janus.room_admin_key, record=False)
        kiosk = await join(session, room, "kiosk")
        await asyncio.wait_for(kiosk.handle.webrtc_up.wait(), 10)

        waiting = asyncio.ensure_future(kiosk.handle.wait_for("hangup", timeout=30))
        died = janus.kill()
        with pytest.raises(JanusConnectionLost):
            await asyncio.wait_for(waiting, 5)
        noticed = time.monotonic() - died
        assert states == [CONNECTION_LOST]
        await kiosk.peer.close()
        return client, died, noticed

    client, died, noticed = runner.run(call_then_crash())
    assert noticed < 5

    def node_is_down() -> bool:
        return MediaNode.objects.filter(pk=node.pk, state=MediaNode.State.DOWN).exists()

    with caplog.at_level(logging.ERROR, logger="media.hooks"):
        runner.call(lambda: health.run(until=node_is_down), timeout=15)
    marked_down = time.monotonic() - died
    assert marked_down < 5, f"marked down {marked_down:.1f} s after the crash"
    node.refresh_from_db()
    assert node.last_error.startswith("Cannot connect")
    # The extension point for the call layer ran once.
    assert [r.getMessage() for r in caplog.records if r.name == "media.hooks"] == [
        f"Media node {node.name} is down: {node.last_error}"
    ]

    janus.start()
    assert runner.call(health.check_once) == {node.name: "up"}
    runner.run(client.close())


def test_a_silent_node_does_not_hold_up_the_database_calls_of_the_web_process(
    runner: NetnsRunner, start_janus, node_for
):
    from channels.db import database_sync_to_async

    janus = start_janus()
    node_for(janus)

    async def scenario():
        finished: list[str] = []
        health_pass = asyncio.ensure_future(health.check_once_async(timeout=2))
        health_pass.add_done_callback(lambda _: finished.append("health pass"))
        # Any other database call of the process, as a call socket makes all the time.
        lookup = asyncio.ensure_future(database_sync_to_async(MediaNode.objects.count)())
        lookup.add_done_callback(lambda _: finished.append("lookup"))
        await asyncio.gather(health_pass, lookup)
        return finished, health_pass.result()

    janus.freeze()
    try:
        finished, changes = runner.run(scenario())
    finally:
        janus.thaw()
    # The lookup did not wait for the probe of the frozen Janus to time out.
    assert finished == ["lookup", "health pass"]
    assert changes == {}  # a node not seen yet is still down: no change


def test_it_measures_a_nodes_packet_loss_from_the_rtcp_counters_of_janus(
    runner: NetnsRunner, netns: Netns, start_janus, node_for
):
    janus = start_janus()
    node = node_for(janus)

    async def one_call():
        client = JanusClient(janus.ws_url)
        await client.connect()
        session = await client.create_session()
        control = await session.attach()
        room = await rooms.create_room(control, admin_key=janus.room_admin_key, record=False)
        kiosk = await join(session, room, "kiosk")
        await asyncio.wait_for(kiosk.handle.webrtc_up.wait(), 10)
        viewer = await watch(session, room, kiosk)
        return client, kiosk, viewer

    client, kiosk, viewer = runner.run(one_call())

    def measure_after(moment) -> float:
        """The first loss the checker stores from sweeps that both began after moment."""

        def measured() -> bool:
            node.refresh_from_db()
            # Two sweeps of the window, each LOSS_EVERY apart: the second ends after it.
            return (
                node.packet_loss_at is not None
                and (node.packet_loss_at - moment).total_seconds() > 2.5
                and node.packet_loss_percent is not None
            )

        runner.call(lambda: health.run(loss_every=1.0, until=measured), timeout=30)
        return node.packet_loss_percent

    from django.utils import timezone

    clean = measure_after(timezone.now())
    assert clean < 2, f"{clean} % lost on a clean link"
    netns.lose_udp(30)
    try:
        lossy = measure_after(timezone.now())
    finally:
        netns.allow_udp()
    # About 30 % of the packets each way; RTCP reports dropped too make it noisy.
    assert 10 < lossy < 75, f"{lossy} % measured where 30 % were dropped"

    runner.run(kiosk.peer.close())
    runner.run(viewer.peer.close())
    runner.run(client.close(destroy_sessions=True))
