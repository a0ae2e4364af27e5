"""Live calls survive a dropped WebSocket and a restart of the parloir process."""

import asyncio
import subprocess

import pytest

from media import rooms
from media.janus import RECONNECTED, JanusAdmin, JanusClient
from tests.media.flows import join, watch
from tests.media.harness import JanusProcess, NetnsRunner

pytestmark = pytest.mark.media


def _cut_connections(runner: NetnsRunner, port: int) -> int:
    """Abort the namespace's TCP connections to ``port``, as a network blip would."""
    # SOCK_DESTROY (`ss -K`) resets the sockets in the kernel: neither the client
    # nor Janus is told anything beforehand.
    result = subprocess.run(
        ["ip", "netns", "exec", runner.netns.name, "ss", "-K", "-t", "dport", "=", f":{port}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sum(1 for line in result.stdout.splitlines() if "ESTAB" in line)


async def _flow(janus: JanusProcess, room: rooms.Room) -> rooms.FlowReport:
    async with JanusAdmin(janus.admin_ws_url, janus.admin_secret) as admin:
        return await rooms.media_flowing(admin, room.id, interval=0.5)


def test_it_keeps_the_call_through_a_websocket_blip(runner: NetnsRunner, janus: JanusProcess):
    async def scenario():
        states: list[str] = []
        async with JanusClient(janus.ws_url, on_state=states.append) as client:
            session = await client.create_session()
            control = await session.attach()
            room = await rooms.create_room(control, admin_key=janus.room_admin_key, record=False)
            kiosk = await join(session, room, "kiosk")
            viewer = await watch(session, room, kiosk)
            await viewer.peer.first_frames("video")
            await viewer.peer.drain()

            back = kiosk.handle.expect(RECONNECTED)
            cut = await asyncio.to_thread(_cut_connections, runner, 8188)
            assert cut == 1, "expected to cut exactly the client's WebSocket"
            await asyncio.wait_for(back, 5)
            assert states == ["connection_lost", "reconnected"]

            # Same session and handles, still usable, and the media never stopped.
            assert client.sessions == {session.id: session} and not session.lost
            assert [p["display"] for p in await rooms.list_participants(control, room)] == ["kiosk"]
            received = await viewer.peer.packets_received()
            assert (await _flow(janus, room)).flowing
            assert await viewer.peer.packets_received() > received

            await rooms.destroy_room(control, room)
            await kiosk.peer.close()
            await viewer.peer.close()
            await client.close(destroy_sessions=True)

    runner.run(scenario())


def test_it_lets_a_restarted_process_claim_live_calls(runner: NetnsRunner, janus: JanusProcess):
    async def scenario():
        # The first "process" sets the call up and stores the Janus ids, then stops.
        first = JanusClient(janus.ws_url)
        await first.connect()
        session = await first.create_session()
        control = await session.attach()
        room = await rooms.create_room(control, admin_key=janus.room_admin_key, record=False)
        kiosk = await join(session, room, "kiosk")
        relative = await join(session, room, "relative")
        viewer = await watch(session, room, kiosk)
        await viewer.peer.first_frames("video")
        await viewer.peer.drain()
        stored = (session.id, control.id, kiosk.handle.id, relative.handle.id, relative.feed_id)
        await first.close()

        # The media does not depend on the signalling connection.
        assert (await _flow(janus, room)).flowing

        # The new process finds the ids in its database and takes over.
        session_id, control_id, kiosk_id, relative_id, relative_feed = stored
        async with JanusClient(janus.ws_url) as second:
            claimed = await second.claim_session(session_id)
            control = claimed.adopt_handle(control_id)
            kiosk_handle = claimed.adopt_handle(kiosk_id)
            relative_handle = claimed.adopt_handle(relative_id)
            participants = await rooms.list_participants(control, room)
            assert {p["display"] for p in participants} == {"kiosk", "relative"}

            # Events for the adopted handles now reach the new process.
            leaving = relative_handle.expect("event", lambda e: "leaving" in e.data)
            await rooms.kick(control, room, relative_feed)
            await asyncio.wait_for(leaving, 5)

            received = await viewer.peer.packets_received()
            assert (await _flow(janus, room)).flowing
            assert await viewer.peer.packets_received() > received

            hangup = kiosk_handle.expect("hangup")
            await rooms.destroy_room(control, room)
            await asyncio.wait_for(hangup, 5)
            for peer in (kiosk.peer, relative.peer, viewer.peer):
                await peer.close()
            await second.close(destroy_sessions=True)

    runner.run(scenario())
