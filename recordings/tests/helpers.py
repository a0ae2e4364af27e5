"""Calls and recordings for the recordings tests, made through the real code paths.

Calls go through calls.actions (start, consents, join, media up, end) on a real media node
row; recordings are sealed by recordings.jobs.seal; real Janus recordings come from
``run_call`` (tests/media harness, aiortc peers sending a test pattern and a tone).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from aiortc.contrib.media import MediaPlayer
from django.utils import timezone

from calls import actions
from calls.models import Call, Participant
from calls.tests.helpers import ready_call, start
from media import rooms
from media.janus import JanusClient
from media.models import MediaNode
from recordings import compose, jobs
from recordings import sources as room_files
from recordings.models import Recording
from tests.media.flows import join, recorded_room
from tests.media.harness import JanusProcess
from tests.media.peers import VIDEO_SOURCE, Publisher

MASTER_KEY = "test-master-key-0123456789-abcdefghijklmnopqrstuvwxyz"
KIOSK_HZ, RELATIVE_HZ = 440, 880
# A second relative's voice: no harmonic of the others'.
SECOND_RELATIVE_HZ = 1000


# --- Calls ------------------------------------------------------------------------------


def media_node(recording_dir: Path, name: str = "node-rec") -> MediaNode:
    return MediaNode.objects.create(
        name=name,
        ws_url="ws://127.0.0.1:8188",
        admin_ws_url="ws://127.0.0.1:7188",
        recording_dir=str(recording_dir),
    )


def live_call(
    node: MediaNode,
    room_id: int,
    feeds: dict[str, int] | None = None,
    *,
    relatives: int = 1,
    **rules,
) -> Call:
    """A call that went live on ``node`` in Janus room ``room_id``, with each side's feed
    (``feeds``: "kiosk", "relative", then "relative1"… for the further relatives)."""
    ready = ready_call(**rules)
    if relatives > 1:
        from bookings.models import BookingContact
        from tests.factories import ContactFactory

        establishment = ready.site.establishment
        establishment.max_relatives_per_call = relatives
        establishment.save(update_fields=["max_relatives_per_call"])
        for position in range(1, relatives):
            BookingContact.objects.create(
                booking=ready.booking,
                contact=ContactFactory(detainee=ready.site.detainee),
                position=position,
            )
    call = start(ready)
    legs = list(call.relatives.order_by("position"))
    for leg in legs:
        for kind in ("terms", "privacy", "monitoring"):
            actions.do_record_consent(
                call,
                kind,
                accepted=True,
                client_ip="10.0.0.1",
                user_agent="test",
                language="fr",
                leg=leg,
            )
    actions.do_relative_waiting(call)
    actions.do_assign_room(call, node=node, room_id=room_id, pin="pin", secret="secret")
    sides = [("kiosk", "kiosk", None)] + [
        ("relative" if leg.position == 0 else f"relative{leg.position}", "relative", leg)
        for leg in legs
    ]
    for name, role, leg in sides:
        participant, _token = actions.do_join(call, role, leg=leg)
        if feeds and name in feeds:
            Participant.objects.filter(pk=participant.pk).update(feed_id=feeds[name])
        actions.do_mark_media_up(call, role, leg)
    return Call.objects.get(pk=call.pk)


def end_call(call: Call, reason: str = Call.EndReason.HUNG_UP_RELATIVE) -> Call:
    actions.do_end_call(call, reason, by="test")
    # What calls.worker does once it has destroyed the room (Janus closed the files).
    Call.objects.filter(pk=call.pk).update(media_released_at=timezone.now())
    return Call.objects.get(pk=call.pk)


def place_sources(source_dir: Path, call: Call, room_id: int | None = None) -> Path:
    """Copy a real call's .mjr files where the call's media node would have written them."""
    target = room_files.folders(call)[0]
    target.mkdir(parents=True, exist_ok=True)
    for path in compose.find_sources(source_dir, room_id):
        shutil.copy2(path, target / path.name)
    return target


def sealed_recording(call: Call, media: Path) -> Recording:
    """A ready recording of ``call`` holding ``media``, sealed as the worker seals."""
    recording = Recording.objects.create(
        call=call,
        retention_days=call.booking.room.quarter.establishment.recording_retention_days,
        retention_until=jobs.retention_deadline(
            call.ended_at, call.booking.room.quarter.establishment.recording_retention_days
        ),
    )
    fields = jobs.seal(recording, media, "t0ken000")
    duration = float(compose.probe(media)["format"]["duration"])
    Recording.objects.filter(pk=recording.pk).update(
        state=Recording.State.READY, duration_seconds=duration, **fields
    )
    return Recording.objects.get(pk=recording.pk)


def make_webm(path: Path, seconds: float = 2.0) -> Path:
    subprocess.run(
        [
            *compose.FFMPEG,
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size=320x240:rate=15:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "16",
            # Large enough to span several 64 KiB chunks.
            "-b:v",
            "800k",
            "-c:a",
            "libopus",
            "-cues_to_front",
            "1",
            str(path),
        ],
        check=True,
    )
    return path


# --- Real calls through Janus -----------------------------------------------------------


@dataclass
class Tone(Publisher):
    """A publisher whose voice is a sine at ``frequency`` (so the mix can be checked by FFT)."""

    frequency: int = KIOSK_HZ

    async def offer(self):
        video = MediaPlayer(VIDEO_SOURCE, format="lavfi")
        audio = MediaPlayer(f"sine=frequency={self.frequency}:sample_rate=48000", format="lavfi")
        self.players = [audio, video]
        self.pc.addTrack(audio.audio)
        self.pc.addTrack(video.video)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"type": "offer", "sdp": self.pc.localDescription.sdp}


@dataclass
class CallRun:
    room_id: int
    folder: Path
    feeds: dict[str, int]
    # Seconds after the kiosk's media was up: when the relative's was, and when it ended.
    relative_up: float
    ended: float
    crashed: bool = False
    notes: list[str] = field(default_factory=list)


async def run_call(
    janus: JanusProcess,
    name: str,
    *,
    together: float,
    relative_after: float = 1.5,
    crash: bool = False,
    second_relative_after: float | None = None,
) -> CallRun:
    """Kiosk (440 Hz) publishes, the relative (880 Hz) joins ``relative_after`` s later, both
    talk for ``together`` s; then the room is destroyed, or Janus is killed (``crash``)."""
    async with JanusClient(janus.ws_url) as client:
        session = await client.create_session()
        control = await session.attach()
        room = await recorded_room(
            control, janus, name, publishers=2 if second_relative_after is None else 3
        )
        kiosk = await join(session, room, "kiosk", peer=Tone(frequency=KIOSK_HZ))
        await asyncio.wait_for(kiosk.handle.webrtc_up.wait(), 10)
        zero = time.monotonic()
        await asyncio.sleep(relative_after)
        relative = await join(session, room, "relative", peer=Tone(frequency=RELATIVE_HZ))
        await asyncio.wait_for(relative.handle.webrtc_up.wait(), 10)
        relative_up = time.monotonic() - zero
        parties = [kiosk, relative]
        if second_relative_after is not None:
            # A second relative arrives later, in another home (issue #19).
            await asyncio.sleep(second_relative_after)
            second = await join(session, room, "relative1", peer=Tone(frequency=SECOND_RELATIVE_HZ))
            await asyncio.wait_for(second.handle.webrtc_up.wait(), 10)
            parties.append(second)
        await asyncio.sleep(together)
        if crash:
            ended = janus.kill() - zero
        else:
            hangup = kiosk.handle.expect("hangup")
            await rooms.destroy_room(control, room)
            ended = time.monotonic() - zero
            await asyncio.wait_for(hangup, 5)
        for participant in parties:
            await participant.peer.close()
        if crash:
            await client.close()
        else:
            await client.close(destroy_sessions=True)
    return CallRun(
        room_id=room.id,
        folder=janus.recording_dir / name,
        feeds={
            "kiosk": kiosk.feed_id,
            "relative": relative.feed_id,
            **({"relative1": parties[2].feed_id} if len(parties) > 2 else {}),
        },
        relative_up=relative_up,
        ended=ended,
        crashed=crash,
    )


# --- Looking at a recording -------------------------------------------------------------


def pcm(path: Path, start: float, seconds: float) -> np.ndarray:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-ss",
            f"{start}",
            "-t",
            f"{seconds}",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            "48000",
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32)


def tone_levels(path: Path, start: float, seconds: float = 0.5) -> dict[int, float]:
    """How far above the spectrum's median each of the two tones stands (a ratio)."""
    samples = pcm(path, start, seconds)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / 48000)
    floor = float(np.median(spectrum)) + 1e-9
    return {
        hz: float(spectrum[(freqs > hz - 15) & (freqs < hz + 15)].max()) / floor
        for hz in (KIOSK_HZ, RELATIVE_HZ, SECOND_RELATIVE_HZ)
    }


def tile_brightness(path: Path, at: float) -> tuple[float, float]:
    """Mean luma of the left and right halves of the picture at ``at`` seconds."""
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-ss",
            f"{at}",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    info = compose.probe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    width, height = int(video["width"]), int(video["height"])
    frame = np.frombuffer(raw, dtype=np.uint8)[: width * height].reshape(height, width)
    return float(frame[:, : width // 2].mean()), float(frame[:, width // 2 :].mean())


def region_brightness(
    path: Path, at: float, regions: list[tuple[int, int, int, int]]
) -> list[float]:
    """Mean luma of each region (x, y, width, height) of the picture at ``at`` seconds."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{at}", "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
    ).stdout  # fmt: skip
    video = next(s for s in compose.probe(path)["streams"] if s["codec_type"] == "video")
    width, height = int(video["width"]), int(video["height"])
    frame = np.frombuffer(raw, dtype=np.uint8)[: width * height].reshape(height, width)
    return [float(frame[y : y + h, x : x + w].mean()) for x, y, w, h in regions]


def decode_errors(path: Path) -> str:
    """What ffmpeg complains about when decoding the whole file (empty when it plays)."""
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stderr.strip() + (
        "" if result.returncode == 0 else f" (exit {result.returncode})"
    )
