"""aiortc peers standing in for the kiosk, the relative's browser and a supervisor.

They must run on the namespace's loop (harness.NetnsRunner) so that aioice
gathers on the namespace's only non-loopback address. Media is synthetic and
small (320x180 at 15 fps): aiortc encodes and decodes in Python, on 2 cores.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaBlackhole, MediaPlayer

from media.janus import Json

VIDEO_SOURCE = "testsrc=size=320x180:rate=15"
AUDIO_SOURCE = "sine=frequency=440:sample_rate=48000"
FRAME_TIMEOUT = 15.0


def _peer_connection() -> RTCPeerConnection:
    # No ICE servers: the default adds a public STUN server, and tests must stay inside.
    # max-bundle: with aiortc's default (balanced), the second video m-line of a
    # monitor's offer keeps a transport of its own that never connects.
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


def split_candidates(sdp: str) -> tuple[str, list[Json]]:
    """The SDP without its candidates, and those candidates in trickle form.

    aiortc cannot trickle by itself; sending its candidates separately exercises
    the path browsers use.
    """
    kept: list[str] = []
    candidates: list[Json] = []
    mid: str | None = None
    mline_index = -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            mline_index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :]
        if line.startswith("a=candidate:"):
            candidates.append({"candidate": line[2:], "sdpMid": mid, "sdpMLineIndex": mline_index})
            continue
        if line == "a=end-of-candidates":
            continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n", candidates


@dataclass
class Publisher:
    """Sends a test pattern and a sine tone, like a kiosk or a relative's browser."""

    pc: RTCPeerConnection = field(default_factory=_peer_connection)
    players: list[MediaPlayer] = field(default_factory=list)

    async def offer(self) -> Json:
        video = MediaPlayer(VIDEO_SOURCE, format="lavfi")
        audio = MediaPlayer(AUDIO_SOURCE, format="lavfi")
        self.players = [audio, video]
        self.pc.addTrack(audio.audio)
        self.pc.addTrack(video.video)
        # aiortc gathers every candidate before this returns.
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"type": "offer", "sdp": self.pc.localDescription.sdp}

    async def accept(self, answer: Json) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))

    async def close(self) -> None:
        await self.pc.close()
        for player in self.players:
            for track in (player.audio, player.video):
                if track is not None:
                    track.stop()


@dataclass
class Receiver:
    """Answers Janus's subscriber offer and decodes what arrives."""

    pc: RTCPeerConnection = field(default_factory=_peer_connection)
    tracks: list[MediaStreamTrack] = field(default_factory=list)
    sink: MediaBlackhole | None = None

    def __post_init__(self) -> None:
        self.pc.on("track", self.tracks.append)

    async def answer(self, offer: Json) -> Json:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return {"type": "answer", "sdp": self.pc.localDescription.sdp}

    def tracks_of(self, kind: str) -> list[MediaStreamTrack]:
        return [track for track in self.tracks if track.kind == kind]

    async def first_frames(self, kind: str) -> list[av.VideoFrame | av.AudioFrame]:
        """One decoded frame from every track of ``kind``, within FRAME_TIMEOUT."""
        tracks = self.tracks_of(kind)
        assert tracks, f"no {kind} track was negotiated"
        return list(
            await asyncio.wait_for(
                asyncio.gather(*(track.recv() for track in tracks)), FRAME_TIMEOUT
            )
        )

    async def packets_received(self) -> int:
        stats = await self.pc.getStats()
        return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")

    async def drain(self) -> None:
        """Keep consuming in the background so decoded frames do not pile up."""
        self.sink = MediaBlackhole()
        for track in self.tracks:
            self.sink.addTrack(track)
        await self.sink.start()

    async def close(self) -> None:
        if self.sink is not None:
            await self.sink.stop()
        await self.pc.close()


def selected_address(pair: str) -> set[str]:
    """The IP addresses of an ICE pair as Janus's admin API prints it."""
    return set(re.findall(r"(\d+\.\d+\.\d+\.\d+):\d+", pair))
