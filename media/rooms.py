"""VideoRoom operations: one room per call, a publisher per side, invisible monitors.

Each function takes the ``Handle`` it acts through. Room administration
(create, kick, destroy, list) can go through any VideoRoom handle, typically one
control handle per media node; each participant and each monitor needs a handle
of its own, since a VideoRoom handle is either one publisher or one subscriber.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from media.janus import Handle, JanusAdmin, JanusError, JanusException, JanusTimeout, Json
from media.sdp import with_audio_packet_time

# The VideoRoom answers 428 when subscribing to a feed that is not (yet) published,
# 427 when creating a room whose id is taken.
NO_SUCH_FEED = 428
ROOM_EXISTS = 427
NO_SUCH_ROOM = 426
DEFAULT_BITRATE = 512_000


class MonitoringRefused(JanusException):
    """The room was created as not monitorable (e.g. a lawyer's call)."""


@dataclass(frozen=True)
class Room:
    """What the call layer must keep (in its database) to use a room again."""

    id: int
    pin: str
    secret: str
    record: bool
    rec_dir: str | None
    monitoring_allowed: bool


@dataclass(frozen=True)
class Publication:
    feed_id: int
    private_id: int
    answer: Json


async def create_room(
    control: Handle,
    *,
    admin_key: str,
    record: bool,
    rec_dir: Path | str | None = None,
    monitoring_allowed: bool = True,
    publishers: int = 2,
    bitrate: int = DEFAULT_BITRATE,
    description: str = "",
    again: Room | None = None,
) -> Room:
    """Create a private room with a random pin and secret.

    ``record`` starts recording at once; with ``rec_dir`` and ``record=False`` the room
    records nothing until ``enable_recording``; without ``rec_dir`` it can never be
    recorded. ``lock_record`` stops anyone without the secret from changing that.
    ``again`` creates a room that Janus lost (it restarted) with its id, pin and secret.
    """
    if record and not rec_dir:
        raise ValueError("A recorded room needs rec_dir")
    pin = again.pin if again else secrets.token_urlsafe(12)
    secret = again.secret if again else secrets.token_urlsafe(24)
    body: Json = {
        "request": "create",
        "admin_key": admin_key,
        "pin": pin,
        "secret": secret,
        "is_private": True,
        "permanent": False,
        "publishers": publishers,
        "bitrate": bitrate,
        # Regular keyframes keep recordings seekable and let late subscribers start fast.
        "fir_freq": 10,
        "videocodec": "vp8",
        "audiocodec": "opus",
        "notify_joining": False,
        "audiolevel_event": False,
        "record": record,
        "lock_record": True,
    }
    if description:
        body["description"] = description
    if rec_dir:
        body["rec_dir"] = str(rec_dir)
    if again:
        body["room"] = again.id
    data, _ = await control.message(body)
    return Room(
        id=int(data["room"]),
        pin=pin,
        secret=secret,
        record=record,
        rec_dir=str(rec_dir) if rec_dir else None,
        monitoring_allowed=monitoring_allowed,
    )


async def enable_recording(control: Handle, room: Room) -> None:
    """Start recording every publisher of the room, now and later (the room must have
    been created with a ``rec_dir``)."""
    if not room.rec_dir:
        raise ValueError(f"Room {room.id} was made without rec_dir: it cannot be recorded")
    await control.message(
        {"request": "enable_recording", "room": room.id, "secret": room.secret, "record": True}
    )


async def room_exists(control: Handle, room_id: int) -> bool:
    data, _ = await control.message({"request": "exists", "room": room_id})
    return bool(data.get("exists"))


async def destroy_room(control: Handle, room: Room) -> None:
    """Destroy the room: Janus hangs up every participant and closes the recordings."""
    await control.message({"request": "destroy", "room": room.id, "secret": room.secret})


async def list_participants(control: Handle, room: Room) -> list[Json]:
    """The room's participants as Janus lists them (publishers only: never subscribers)."""
    data, _ = await control.message({"request": "listparticipants", "room": room.id})
    return list(data.get("participants") or [])


async def publish(
    handle: Handle, room: Room, offer: Json, *, display: str = "", bitrate: int | None = None
) -> Publication:
    """Join as a publisher with an SDP offer; return the feed id and Janus's answer,
    asking for 40 ms audio packets (media.sdp). ``bitrate`` caps this publisher's video
    below the room's (Janus's REMB to the browser).

    The offer may carry all its candidates (aiortc) or none, followed by
    ``trickle`` calls (browsers).
    """
    body: Json = {
        "request": "joinandconfigure",
        "ptype": "publisher",
        "room": room.id,
        "pin": room.pin,
    }
    if display:
        body["display"] = display
    if bitrate:
        body["bitrate"] = bitrate
    data, answer = await handle.message(body, offer)
    if answer is None:
        raise JanusError(0, f"VideoRoom joined without an SDP answer: {data}")
    answer = {**answer, "sdp": with_audio_packet_time(answer["sdp"])}
    return Publication(int(data["id"]), int(data["private_id"]), answer)


async def request_keyframe(publisher: Handle) -> None:
    """Have Janus ask this publisher's browser for a keyframe now (a recording that begins
    mid-stream can only be decoded from one)."""
    await publisher.message({"request": "configure", "keyframe": True})


async def trickle(handle: Handle, candidate: Json | None) -> None:
    """Forward a browser's ICE candidate (``None`` once it has no more)."""
    await handle.trickle(candidate)


async def _wait_publishing(publishers: Sequence[Handle], timeout: float) -> None:
    for publisher in publishers:
        try:
            await asyncio.wait_for(publisher.webrtc_up.wait(), timeout)
        except TimeoutError:
            raise JanusTimeout(f"{publisher!r} did not get WebRTC up within {timeout} s")


async def subscribe(
    handle: Handle,
    room: Room,
    feeds: Sequence[int],
    *,
    publishers: Sequence[Handle] = (),
    timeout: float = 10.0,
) -> Json:
    """Join as a subscriber to ``feeds``; return Janus's SDP offer to answer with ``start``.

    Janus refuses (error 428) feeds that are not up yet, so pass the publishers'
    handles, when this process has them, to wait for their ``webrtcup`` first.
    """
    offer, _streams = await subscribe_with_streams(
        handle, room, feeds, publishers=publishers, timeout=timeout
    )
    return offer


async def subscribe_with_streams(
    handle: Handle,
    room: Room,
    feeds: Sequence[int | Json],
    *,
    publishers: Sequence[Handle] = (),
    timeout: float = 10.0,
) -> tuple[Json, list[Json]]:
    """``subscribe``, with Janus's list of the offer's streams: which ``mid`` carries
    which feed's audio or video (a page showing several people places each by it).

    A feed may be given as ``{"feed": id, "mid": publisher's mid}``: that stream only
    (a weak link takes another relative's voice without their picture)."""
    await _wait_publishing(publishers, timeout)
    body: Json = {
        "request": "join",
        "ptype": "subscriber",
        "room": room.id,
        "pin": room.pin,
        "streams": [feed if isinstance(feed, dict) else {"feed": feed} for feed in feeds],
    }
    data, offer = await handle.message(body)
    if offer is None:
        raise JanusError(0, f"VideoRoom subscription without an SDP offer: {data}")
    return offer, stream_map(data)


def stream_map(data: Json) -> list[Json]:
    """The streams of a subscription as Janus lists them ("attached", "updated")."""
    return [
        {
            "mid": str(stream["mid"]),
            "feed": stream["feed_id"],
            "kind": stream.get("type", ""),
            # The publisher's own mid for it: what a subscription names to take one stream.
            "feed_mid": str(stream.get("feed_mid", "")),
        }
        for stream in data.get("streams") or []
        if stream.get("feed_id") is not None and stream.get("active", True)
    ]


async def start(handle: Handle, answer: Json) -> None:
    """Complete a subscription with the subscriber's SDP answer."""
    await handle.message({"request": "start"}, answer)


async def monitor(
    handle: Handle,
    control: Handle,
    room: Room,
    *,
    publishers: Sequence[Handle] = (),
    timeout: float = 10.0,
) -> Json:
    """Subscribe to every publisher of the room, for supervision; return Janus's offer.

    Subscribers are never announced to the participants and never listed by
    ``listparticipants``, so a monitor is invisible to them.
    """
    if not room.monitoring_allowed:
        raise MonitoringRefused(f"Room {room.id} must not be monitored")
    await _wait_publishing(publishers, timeout)
    feeds = [int(p["id"]) for p in await list_participants(control, room) if p.get("publisher")]
    if not feeds:
        raise JanusError(NO_SUCH_FEED, f"Nobody publishes in room {room.id}")
    return await subscribe(handle, room, feeds, timeout=timeout)


async def kick(control: Handle, room: Room, participant_id: int) -> None:
    """Remove a publisher from the room; Janus hangs up its PeerConnection."""
    await control.message(
        {"request": "kick", "room": room.id, "secret": room.secret, "id": participant_id}
    )


@dataclass(frozen=True)
class StreamFlow:
    handle_id: int
    role: str  # "publisher" (packets in) or "subscriber" (packets out)
    mid: str
    media: str  # "audio" or "video"
    packets_before: int
    packets_after: int

    @property
    def flowing(self) -> bool:
        return self.packets_after > self.packets_before


@dataclass(frozen=True)
class FlowReport:
    room_id: int
    streams: tuple[StreamFlow, ...]
    selected_pairs: dict[int, str]

    @property
    def publishers(self) -> int:
        return len({s.handle_id for s in self.streams if s.role == "publisher"})

    @property
    def flowing(self) -> bool:
        """True when the room has a publisher and every stream moved during the sample."""
        return self.publishers > 0 and all(s.flowing for s in self.streams)

    def __bool__(self) -> bool:
        return self.flowing


def _packet_counters(info: Json) -> dict[str, tuple[str, str, int]]:
    """mid -> (role, media, packets) for the streams that carry media on this handle."""
    role = (info.get("plugin_specific") or {}).get("type", "")
    direction = "in" if role == "publisher" else "out"
    counters = {}
    for mid, media in ((info.get("webrtc") or {}).get("media") or {}).items():
        wanted = "recv" if role == "publisher" else "send"
        if not (media.get("direction") or {}).get(wanted):
            continue
        packets = ((media.get("stats") or {}).get(direction) or {}).get("packets", 0)
        counters[str(mid)] = (role, str(media.get("type", "")), int(packets))
    return counters


async def every_handle(admin: JanusAdmin) -> AsyncIterator[tuple[int, int, Json]]:
    """(session id, handle id, handle_info) of every handle on the node, skipping those
    that went away while they were being listed."""
    for session_id in await admin.list_sessions():
        try:
            handles = await admin.list_handles(session_id)
        except JanusError:
            continue  # the session ended between the two requests
        for handle_id in handles:
            try:
                info = await admin.handle_info(session_id, handle_id)
            except JanusError:
                continue
            yield session_id, handle_id, info


async def _room_handles(admin: JanusAdmin, room_id: int) -> list[tuple[int, int]]:
    found = []
    async for session_id, handle_id, info in every_handle(admin):
        specific = info.get("plugin_specific") or {}
        if specific.get("room") == room_id and specific.get("type") in (
            "publisher",
            "subscriber",
        ):
            found.append((session_id, handle_id))
    return found


async def media_flowing(
    admin: JanusAdmin,
    room_id: int,
    *,
    handles: Sequence[tuple[int, int]] | None = None,
    interval: float = 1.0,
) -> FlowReport:
    """Sample the packet counters of the room's handles twice, ``interval`` apart.

    ``handles`` ((session_id, handle_id) pairs) spares a scan of every session on
    the node when the caller knows them.
    """
    targets = list(handles) if handles is not None else await _room_handles(admin, room_id)

    async def sample() -> dict[tuple[int, int], Json]:
        infos = {}
        for target in targets:
            try:
                infos[target] = await admin.handle_info(*target)
            except JanusError:
                infos[target] = {}  # gone: counts as not flowing
        return infos

    before = await sample()
    await asyncio.sleep(interval)
    after = await sample()
    streams = []
    pairs = {}
    for target in targets:
        first = _packet_counters(before[target])
        second = _packet_counters(after[target])
        pair = ((after[target].get("webrtc") or {}).get("ice") or {}).get("selected-pair")
        if pair:
            pairs[target[1]] = pair
        for mid, (role, media, packets) in first.items():
            later = second.get(mid, (role, media, packets))[2]
            streams.append(StreamFlow(target[1], role, mid, media, packets, later))
    return FlowReport(room_id, tuple(streams), pairs)
