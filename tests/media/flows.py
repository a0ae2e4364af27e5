"""Steps shared by the media tests: a participant publishing, a viewer subscribing."""

from __future__ import annotations

from dataclasses import dataclass

from media import rooms
from media.janus import Handle, Session
from tests.media.harness import JanusProcess
from tests.media.peers import Publisher, Receiver, split_candidates


@dataclass
class Participant:
    handle: Handle
    peer: Publisher
    feed_id: int


@dataclass
class Viewer:
    handle: Handle
    peer: Receiver


async def recorded_room(
    control: Handle, janus: JanusProcess, name: str, publishers: int = 2
) -> rooms.Room:
    return await rooms.create_room(
        control,
        admin_key=janus.room_admin_key,
        record=True,
        rec_dir=janus.recording_dir / name,
        publishers=publishers,
    )


async def join(
    session: Session,
    room: rooms.Room,
    display: str,
    *,
    trickle: bool = False,
    peer: Publisher | None = None,
) -> Participant:
    """Publish a test pattern; with ``trickle`` the candidates follow the offer."""
    handle = await session.attach()
    peer = peer or Publisher()
    offer = await peer.offer()
    candidates: list = []
    if trickle:
        sdp, candidates = split_candidates(offer["sdp"])
        offer = {"type": "offer", "sdp": sdp}
        assert candidates, "aiortc gathered no candidate"
    publication = await rooms.publish(handle, room, offer, display=display)
    await peer.accept(publication.answer)
    if trickle:
        for candidate in candidates:
            await rooms.trickle(handle, candidate)
        await rooms.trickle(handle, None)
    return Participant(handle, peer, publication.feed_id)


async def watch(session: Session, room: rooms.Room, *participants: Participant) -> Viewer:
    """Subscribe to the participants' feeds, once they are up."""
    handle = await session.attach()
    offer = await rooms.subscribe(
        handle,
        room,
        [p.feed_id for p in participants],
        publishers=[p.handle for p in participants],
    )
    peer = Receiver()
    await rooms.start(handle, await peer.answer(offer))
    return Viewer(handle, peer)
