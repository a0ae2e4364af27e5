"""Synthetic kiosks or relatives for bench_multihost.py, run inside one host's namespace.

    python bench/multihost_clients.py kiosks   SPEC.json   # on the prison's network
    python bench/multihost_clients.py relatives SPEC.json  # on the family's network

They go through what a browser goes through: the HTTPS pages through the load balancer
(the deployment's CA verified, the site reached by its name), the call WebSocket, ICE and
DTLS (tests/e2e/doc_client.py and kiosk_client.py, written from the docs). Their media
are pre-encoded (a short VP8 and Opus file, sent as it is: no encoding) and small; what
they receive goes through SRTP, RTCP and aiortc's jitter buffer but is not decoded: a
side's first frame is the first complete VP8 keyframe it receives (a browser would show
it once decoded, a few milliseconds later). Decoding every frame in Python made the load
generator the machine's largest consumer of CPU, taken from the deployment it measures.
The file is read once per process and its packets shared by every client's tracks (not a
demuxing thread per client). One JSON line per call on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import aiohttp
import av
from aiohttp.abc import AbstractResolver
from aiortc import rtcrtpreceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.doc_client import DocClient  # noqa: E402
from tests.e2e.kiosk_client import KioskDocClient  # noqa: E402


class SiteResolver(AbstractResolver):
    """The site's name to the load balancer's address (the test hosts have no DNS)."""

    def __init__(self, name: str, address: str) -> None:
        self.name, self.address = name, address

    async def resolve(self, host, port=0, family=socket.AF_INET):
        if host != self.name:
            raise OSError(f"unknown host {host}")
        return [
            {"hostname": host, "host": self.address, "port": port, "family": socket.AF_INET,
             "proto": 0, "flags": socket.AI_NUMERICHOST},
        ]  # fmt: skip

    async def close(self) -> None:
        pass


@dataclass(frozen=True)
class Keyframe:
    """What a receiving track yields here instead of a decoded picture: a complete VP8
    keyframe, as reassembled from its RTP packets."""

    width: int
    height: int


class NoDecoder:
    """Takes aiortc's decoder's place: audio is dropped once received, video is checked
    for complete keyframes only. The jitter buffer hands over a frame only once every
    packet from its first to the next frame's is in; the frame is a keyframe that starts
    at its beginning when it has the VP8 key frame header (RFC 6386, 9.1) and at least
    the first partition it announces."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def decode(self, encoded_frame) -> list[Keyframe]:
        data = encoded_frame.data
        if self.kind != "video" or len(data) < 10 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
            return []
        first_partition = (data[0] | data[1] << 8 | data[2] << 16) >> 5
        if len(data) < 10 + first_partition:
            return []
        width = int.from_bytes(data[6:8], "little") & 0x3FFF
        height = int.from_bytes(data[8:10], "little") & 0x3FFF
        return [Keyframe(width, height)]


def _no_decoder(codec) -> NoDecoder:
    return NoDecoder(codec.mimeType.split("/")[0].lower())


# aiortc's receivers ask this module-level name for their decoder.
rtcrtpreceiver.get_decoder = _no_decoder


@dataclass(frozen=True)
class Chunk:
    """One pre-encoded packet as aiortc's senders take it (``pack``: its bytes, pts and
    time base), without an encoder."""

    data: bytes
    pts: int
    time_base: Fraction

    def __bytes__(self) -> bytes:
        return self.data


@dataclass(frozen=True)
class Recording:
    """The media file's packets, per kind, and how long it lasts in each kind's time base."""

    packets: dict[str, list[Chunk]]
    lengths: dict[str, int]


def read_media(path: str) -> Recording:
    packets: dict[str, list[Chunk]] = {"audio": [], "video": []}
    with av.open(path) as container:
        for packet in container.demux():
            if packet.size and packet.pts is not None:
                packets[packet.stream.type].append(
                    Chunk(bytes(packet), packet.pts, packet.time_base)
                )
    lengths = {}
    for kind, chunks in packets.items():
        first = chunks[0].pts
        packets[kind] = [Chunk(c.data, c.pts - first, c.time_base) for c in chunks]
        step = packets[kind][-1].pts - packets[kind][-2].pts
        lengths[kind] = packets[kind][-1].pts + step
    return Recording(packets, lengths)


class PreEncodedTrack(MediaStreamTrack):
    """A file's audio or video at its own pace, looped, from packets read once."""

    def __init__(self, recording: Recording, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._chunks = recording.packets[kind]
        self._length = recording.lengths[kind]
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> Chunk:
        if self.readyState != "live":
            raise MediaStreamError
        loops, position = divmod(self._index, len(self._chunks))
        chunk = self._chunks[position]
        pts = chunk.pts + loops * self._length
        at = float(pts * chunk.time_base)
        if self._start is None:
            self._start = time.time() - at
        else:
            await asyncio.sleep(self._start + at - time.time())
        self._index += 1
        return Chunk(chunk.data, pts, chunk.time_base)


_recording: Recording | None = None


class Synthetic:
    """What both sides add to the docs' clients: the network, pre-encoded media, and the
    time of the first frame received (and of each step, for the breakdown)."""

    async def _received(self, data: str) -> None:
        frame = json.loads(data) if data.startswith("{") else {}
        kind = frame.get("type")
        if kind in ("error", "media_restart"):
            # What a slow set-up went through (the benchmark prints the late calls' steps).
            kind = f"{kind} {frame.get('code') or frame.get('reason', '')}".strip()
        if kind in ("welcome", "publish_answer", "subscribe_offer") or (
            kind and kind.startswith(("error", "media_restart"))
        ):
            self.marks.setdefault(kind, time.time())
        await super()._received(data)

    async def setup(self, spec: dict) -> None:
        await self.http.close()  # the docs' client's own, for a site it can resolve
        context = ssl.create_default_context(cafile=spec["ca"])
        connector = aiohttp.TCPConnector(
            ssl=context, resolver=SiteResolver(spec["site_name"], spec["lb"])
        )
        self.http = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.CookieJar(),
            headers={"Accept-Language": "fr-FR"},
        )
        global _recording
        if _recording is None:
            _recording = read_media(spec["media"])
        self.recording = _recording
        self.marks: dict[str, float] = {}
        self.first_frame_at: float | None = None
        self.first_frame = asyncio.Event()

    async def _publish(self) -> None:
        assert self.welcome is not None
        from tests.e2e.doc_client import _peer_connection

        self.publisher = _peer_connection(self.welcome["ice_servers"])
        audio, video = (PreEncodedTrack(self.recording, kind) for kind in ("audio", "video"))
        self.sending = [audio, video]
        self.publisher.addTransceiver(audio, direction="sendonly")
        self.publisher.addTransceiver(video, direction="sendonly")
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        await self._send_local("publish", "publisher", self.publisher)

    async def _stop_media(self) -> None:
        for track in getattr(self, "sending", []):
            track.stop()
        await super()._stop_media()

    async def _decode(self, receiving, track, mid: str | None = None) -> None:
        """The keyframes NoDecoder finds (audio yields nothing: received, never decoded)."""
        if track.kind != "video":
            return
        with contextlib.suppress(MediaStreamError):  # the track ended
            while True:
                keyframe = await track.recv()
                if self.first_frame_at is None:
                    self.first_frame_at = time.time()
                    self.first_frame.set()
                receiving.frames["video"] += 1
                receiving.sizes.add((keyframe.width, keyframe.height))


class SyntheticKiosk(Synthetic, KioskDocClient):
    pass


class SyntheticRelative(Synthetic, DocClient):
    pass


async def kiosks(spec: dict) -> None:
    clients = []
    for booking in spec["calls"]:
        client = SyntheticKiosk(spec["site"])
        await client.setup(spec)
        await client.activate(booking["credential"])
        await client.sign_in(booking["prison_number"], "1234")
        # The home page is on the kiosk's screen before the detainee presses "Appeler".
        await client.open_home()
        clients.append(client)
    print(json.dumps({"ready": len(clients)}), flush=True)
    # Every kiosk presses "Appeler" at the same instant, which the benchmark sends once
    # every kiosk and every relative is ready: "go <epoch seconds>".
    line = await asyncio.to_thread(sys.stdin.readline)
    await asyncio.sleep(max(0.0, float(line.split()[1]) - time.time()))

    async def call(client: SyntheticKiosk) -> dict:
        pressed = time.time()
        call_id = await client.press_call()
        client.marks["call_page"] = time.time()
        await client.connect()
        await client.hello(call_id)
        await asyncio.wait_for(client.first_frame.wait(), spec["timeout"])
        return {"call": call_id, "appeler": pressed, "kiosk_frame": client.first_frame_at,
                "kiosk_marks": client.marks}  # fmt: skip

    results = await asyncio.gather(*(call(c) for c in clients), return_exceptions=True)
    for result in results:
        print(json.dumps(result if isinstance(result, dict) else {"error": repr(result)}))
    await _hold_then_close(clients, spec)


async def relatives(spec: dict) -> None:
    outbox = Path(spec["outbox"])
    seen = len(outbox.read_text().splitlines()) if outbox.exists() else 0
    print(json.dumps({"ready": 0}), flush=True)
    tasks: list[asyncio.Task] = []
    clients: list[SyntheticRelative] = []

    async def answer(link: str, code: str, seen_at: float) -> dict:
        client = SyntheticRelative(spec["site"])
        await client.setup(spec)
        clients.append(client)
        client.marks["code_seen"] = seen_at
        await client.follow_sms_link(link, code)
        client.marks["call_page"] = time.time()
        await client.connect()
        await client.hello(client.call_id())
        await asyncio.wait_for(client.first_frame.wait(), spec["timeout"])
        return {"call": client.call_id(), "relative_frame": client.first_frame_at,
                "relative_marks": client.marks}  # fmt: skip

    give_up = time.time() + spec["timeout"] + 30

    while len(tasks) < len(spec["calls"]) and time.time() < give_up:
        # Complete lines only: the notify worker may be half-way through writing one.
        written = outbox.read_text() if outbox.exists() else ""
        lines = written[: written.rfind("\n") + 1].splitlines()
        for line in lines[seen:]:
            text = json.loads(line)["text"]
            found = re.search(r"(https?://\S+/j/\S+?)#(\d+)", text)
            if found:
                tasks.append(
                    asyncio.create_task(answer(found.group(1), found.group(2), time.time()))
                )
        seen = len(lines)
        await asyncio.sleep(0.02)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        print(json.dumps(result if isinstance(result, dict) else {"error": repr(result)}))
    await _hold_then_close(clients, spec)


async def _hold_then_close(clients, spec: dict) -> None:
    await asyncio.sleep(spec.get("hold", 0))
    for client in clients:
        try:
            await client.close()
        except Exception as exc:  # noqa: BLE001 (a client that failed earlier is reported already)
            print(json.dumps({"close_error": repr(exc)}), file=sys.stderr)


def main() -> int:
    role, spec_path = sys.argv[1], sys.argv[2]
    spec = json.loads(Path(spec_path).read_text())
    asyncio.run({"kiosks": kiosks, "relatives": relatives}[role](spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
