"""The media host's agent against a real Janus: a room's files leave the node, sealed,
once the room is gone, and only the web hosts' key opens them."""

import asyncio

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from media.janus import JanusClient
from media.node import Agent, AgentConfig
from recordings import crypto
from recordings.fileformat import TamperedError
from recordings.sealing import open_file, read_manifest
from recordings.sources import ShippedRoom
from tests.media.flows import join
from tests.media.harness import NetnsRunner

pytestmark = [pytest.mark.media]


def test_the_agent_ships_a_rooms_files_sealed_once_the_room_is_gone(
    runner: NetnsRunner, janus, tmp_path
):
    store = tmp_path / "store"
    agent = Agent(
        AgentConfig(
            node_name="media-x",
            recording_dir=janus.recording_dir,
            store=store,
            public_key=crypto.source_public_key_b64(),
            admin_url=janus.admin_ws_url,
            admin_secret=janus.admin_secret,
            room_admin_key=janus.room_admin_key,
            settle=0.5,
        )
    )
    from media import rooms

    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            session = await client.create_session()
            control = await session.attach()
            room = await rooms.create_room(
                control, admin_key=janus.room_admin_key, record=True,
                rec_dir=janus.recording_dir / "call-77",
            )  # fmt: skip
            kiosk = await join(session, room, "kiosk")
            await asyncio.wait_for(kiosk.handle.webrtc_up.wait(), 10)
            await asyncio.sleep(1.5)
            kept = await agent.pass_once()  # the room is live: nothing leaves yet
            on_disk = sorted(p.name for p in (janus.recording_dir / "call-77").iterdir())
            await rooms.destroy_room(control, room)
            await kiosk.peer.close()
            shipped = []
            for _ in range(100):
                shipped = await agent.pass_once()
                if shipped:
                    break
                await asyncio.sleep(0.1)
            await client.close(destroy_sessions=True)
            return room.id, kept, on_disk, shipped

    room_id, kept, on_disk, shipped = runner.run(scenario(), timeout=60)
    assert kept == []
    assert len(on_disk) == 2, on_disk  # audio and video
    assert shipped == [("call-77", room_id)]
    # Nothing of the call is left in plaintext on the media host.
    assert not (janus.recording_dir / "call-77").exists()

    folder = store / "media-x" / "call-77"
    entries = read_manifest(folder / f"room-{room_id}.json")
    assert sorted(entry.name for entry in entries) == on_disk
    for entry in entries:
        sealed = (folder / entry.sealed_name).read_bytes()
        assert b"MJR00002" not in sealed[:64]

    # The web hosts open them with the key derived from the master key...
    room = ShippedRoom(folder, room_id)
    opened = room.fetch(tmp_path / "work")
    assert sorted(p.name for p in opened) == on_disk
    assert all(p.read_bytes()[:8] == b"MJR00002" for p in opened)
    # ...and nobody else does.
    with pytest.raises(TamperedError):
        open_file(folder, entries[0], [X25519PrivateKey.generate()], tmp_path / "x.mjr")
    assert room.delete() == 2 and not folder.exists()
