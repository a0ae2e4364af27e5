"""VideoRoom operations against a real Janus, with aiortc peers, inside the namespace."""

import asyncio

import pytest

from media import rooms
from media.janus import VIDEOROOM, JanusAdmin, JanusClient, JanusError
from tests.media.flows import join, recorded_room, watch
from tests.media.harness import JanusProcess, NetnsRunner
from tests.media.peers import Receiver, selected_address

pytestmark = pytest.mark.media


async def _rooms_on(janus: JanusProcess) -> dict[int, dict]:
    async with JanusAdmin(janus.admin_ws_url, janus.admin_secret) as admin:
        listing = await admin.message_plugin(
            VIDEOROOM, {"request": "list", "admin_key": janus.room_admin_key}
        )
    return {room["room"]: room for room in listing["list"]}


def test_it_creates_and_destroys_a_private_room(runner: NetnsRunner, janus: JanusProcess):
    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            session = await client.create_session()
            control = await session.attach()
            room = await recorded_room(control, janus, "create-destroy")
            listed = (await _rooms_on(janus))[room.id]
            assert listed["pin_required"] and listed["is_private"]
            assert listed["record"] and listed["rec_dir"] == room.rec_dir
            assert (listed["max_publishers"], listed["notify_joining"]) == (2, False)
            assert (listed["videocodec"], listed["audiocodec"]) == ("vp8", "opus")
            # Private: invisible without the admin key.
            async with JanusAdmin(janus.admin_ws_url, janus.admin_secret) as admin:
                public = await admin.message_plugin(VIDEOROOM, {"request": "list"})
            assert room.id not in [r["room"] for r in public["list"]]

            with pytest.raises(JanusError) as refused:
                await rooms.create_room(control, admin_key="wrong", record=False)
            assert refused.value.code == 433  # unauthorized

            await rooms.destroy_room(control, room)
            assert room.id not in await _rooms_on(janus)
            with pytest.raises(JanusError) as gone:
                await rooms.list_participants(control, room)
            assert gone.value.code == 426  # no such room
            await client.close(destroy_sessions=True)

    runner.run(scenario())


def test_it_refuses_to_subscribe_to_a_feed_that_is_not_up(runner: NetnsRunner, janus: JanusProcess):
    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            session = await client.create_session()
            control = await session.attach()
            room = await rooms.create_room(control, admin_key=janus.room_admin_key, record=False)
            with pytest.raises(JanusError) as refused:
                await rooms.subscribe(await session.attach(), room, [1234])
            assert refused.value.code == rooms.NO_SUCH_FEED
            await rooms.destroy_room(control, room)
            await client.close(destroy_sessions=True)

    runner.run(scenario())


def test_it_carries_a_call_both_ways_with_an_invisible_monitor(
    runner: NetnsRunner, janus: JanusProcess
):
    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            session = await client.create_session()
            control = await session.attach()
            room = await recorded_room(control, janus, "call")

            kiosk = await join(session, room, "kiosk")
            relative = await join(session, room, "relative", trickle=True)
            announced: list = []
            for participant in (kiosk, relative):
                participant.handle.on_event(announced.append)

            kiosk_sees = await watch(session, room, relative)
            relative_sees = await watch(session, room, kiosk)
            for viewer in (kiosk_sees, relative_sees):
                (frame,) = await viewer.peer.first_frames("video")
                assert (frame.width, frame.height) == (320, 180)
                assert len(await viewer.peer.first_frames("audio")) == 1

            announced.clear()
            monitor_handle = await session.attach()
            offer = await rooms.monitor(
                monitor_handle, control, room, publishers=[kiosk.handle, relative.handle]
            )
            monitor = Receiver()
            await rooms.start(monitor_handle, await monitor.answer(offer))
            frames = await monitor.first_frames("video")
            assert [(f.width, f.height) for f in frames] == [(320, 180), (320, 180)]
            assert len(await monitor.first_frames("audio")) == 2
            for receiver in (kiosk_sees.peer, relative_sees.peer, monitor):
                await receiver.drain()

            # Nobody was told about the monitor, and it is not a participant.
            participants = await rooms.list_participants(control, room)
            assert {p["display"] for p in participants} == {"kiosk", "relative"}
            assert [e for e in announced if e.kind == "event"] == []

            async with JanusAdmin(janus.admin_ws_url, janus.admin_secret) as admin:
                flow = await rooms.media_flowing(admin, room.id)
            assert flow.flowing, flow
            assert flow.publishers == 2
            # 2 publishers x 2 streams in, 2 viewers x 2 + the monitor's 4 out.
            assert len(flow.streams) == 12
            for pair in flow.selected_pairs.values():
                assert selected_address(pair) == {runner.netns.address}

            recordings = sorted(p.name for p in (janus.recording_dir / "call").iterdir())
            assert len(recordings) == 4, recordings
            assert all(name.startswith(f"videoroom-{room.id}-user-") for name in recordings)
            assert sum(name.endswith("-audio-0.mjr") for name in recordings) == 2
            assert sum(name.endswith("-video-1.mjr") for name in recordings) == 2

            leaving = relative.handle.expect("event", lambda e: "leaving" in e.data)
            await rooms.kick(control, room, relative.feed_id)
            await asyncio.wait_for(leaving, 5)
            participants = await rooms.list_participants(control, room)
            assert [p["display"] for p in participants] == ["kiosk"]

            hangup = kiosk.handle.expect("hangup")
            await rooms.destroy_room(control, room)
            await asyncio.wait_for(hangup, 5)
            for peer in (kiosk.peer, relative.peer, kiosk_sees.peer, relative_sees.peer, monitor):
                await peer.close()
            await client.close(destroy_sessions=True)

    runner.run(scenario(), timeout=90)


def test_it_neither_records_nor_monitors_a_confidential_room(
    runner: NetnsRunner, janus: JanusProcess
):
    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            session = await client.create_session()
            control = await session.attach()
            room = await rooms.create_room(
                control, admin_key=janus.room_admin_key, record=False, monitoring_allowed=False
            )
            assert (await _rooms_on(janus))[room.id]["record"] is False

            lawyer = await join(session, room, "lawyer")
            detainee = await join(session, room, "detainee")
            viewer = await watch(session, room, lawyer)
            (frame,) = await viewer.peer.first_frames("video")
            assert frame.width == 320

            # Participants cannot switch recording on: the room is created with
            # lock_record, so Janus ignores the request without the room's secret.
            await lawyer.handle.message({"request": "configure", "record": True})
            with pytest.raises(JanusError) as refused:
                await control.message(
                    {
                        "request": "enable_recording",
                        "room": room.id,
                        "record": True,
                        "secret": "guessed",
                    }
                )
            assert refused.value.code == 433  # unauthorized
            with pytest.raises(rooms.MonitoringRefused):
                await rooms.monitor(await session.attach(), control, room)

            async with JanusAdmin(janus.admin_ws_url, janus.admin_secret) as admin:
                assert (await rooms.media_flowing(admin, room.id)).flowing

            await rooms.destroy_room(control, room)
            for peer in (lawyer.peer, detainee.peer, viewer.peer):
                await peer.close()
            await client.close(destroy_sessions=True)
        return room

    room = runner.run(scenario())
    assert list(janus.workdir.rglob(f"videoroom-{room.id}-*")) == []
