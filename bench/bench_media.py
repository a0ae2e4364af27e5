"""Benchmark of the media plane: N concurrent recorded calls, each with a monitor, on a
real Janus in a private network namespace.

    .venv/bin/python bench/bench_media.py [--calls 1,2,4,8] [--window 20] [--no-doc]

For each N, a fresh Janus is started in the namespace; its idle CPU and memory are
sampled, then N calls are set up at once (as at the start of a booking slot): a room
recorded by Janus, two publishers (kiosk and relative) sending 640x360 VP8 at 15 fps and
Opus, each seeing the other, and a monitor subscribed to both. Once media flows, Janus's
CPU (each thread's schedstat in /proc, as % of one core) and resident memory are sampled
over a steady window. Reported per call: (CPU under load - idle CPU) / N and (RSS under
load - idle RSS) / N, the median of --runs runs on fresh Janus processes, and the time
from each publisher's offer to the first complete video keyframe at each of its
subscribers (p50, p95). Goals (issue 4): at most 1 % of a core per recorded call, first
frame under 300 ms at p95.

The load generator (aiortc) must not starve Janus on 2 cores, so it neither encodes nor
decodes: a 640x360 VP8/Opus clip is encoded once with ffmpeg, its packets are sent as
they are (aiortc packetizes pre-encoded av.Packets), restarting at the clip's first frame,
a keyframe, whenever Janus asks for one (PLI/FIR) as a real encoder would; receivers
timestamp RTP packets as they arrive and never decode. See bench/README.md.

Results go to the "Media plane (Janus)" section of docs/performance.md (--no-doc to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiortc  # noqa: E402
import aiortc.rtcdtlstransport  # noqa: E402
import aiortc.rtcrtpreceiver  # noqa: E402
import av  # noqa: E402
import OpenSSL.SSL  # noqa: E402
import psutil  # noqa: E402
from aiortc import (  # noqa: E402
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.codecs.vpx import VpxPayloadDescriptor  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402

from bench.perfdoc import (  # noqa: E402
    NICE_HELP,
    CpuWindow,
    Interrupted,
    bound_run,
    machine,
    ms,
    percentile,
    program_pid,
    publish,
    tool_version,
    wake_up_costs,
)
from media import rooms  # noqa: E402
from media.janus import Handle, JanusClient, Session  # noqa: E402
from tests.media.harness import (  # noqa: E402
    JanusProcess,
    Netns,
    NetnsRunner,
    private_netns,
    running_in,
)

# 15 frames/s: what the kiosk and the portal ask of the camera (static/js/call-ui.js).
WIDTH, HEIGHT, FPS = 640, 360, 15
VIDEO_KBPS, AUDIO_KBPS = 450, 32
CLIP_SECONDS = 20
AUDIO_MS = 40  # Opus packet length that parloir's answers ask browsers for (media/sdp.py)
GOAL_CPU_PER_CALL = 1.0  # % of one core
GOAL_FIRST_FRAME = 0.300  # s, p95
# Handles of one call on one of Janus's media threads (media.janus.Session.attach).
AFFINITY = True
SECTION = "Media plane (Janus)"
parser_defaults: dict = {}


# --- pre-encoded media -------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    video: list[bytes]  # one VP8 frame per 1/fps s; video[0] is the only keyframe
    audio: list[bytes]  # one Opus packet per audio_ms
    fps: int
    kbps: int
    audio_ms: int = AUDIO_MS


def encode_clip(
    folder: Path, fps: int = FPS, kbps: int = VIDEO_KBPS, audio_ms: int = AUDIO_MS
) -> Clip:
    """Encode the test clip once (ffmpeg, about 10 s) and keep its packets in memory."""
    path = folder / "clip.webm"
    subprocess.run(  # noqa: S603
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={fps}",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(CLIP_SECONDS),
            # Constant bitrate, no alt-ref or lookahead, a single keyframe: what a browser's
            # real-time encoder sends between keyframe requests.
            "-c:v", "libvpx", "-b:v", f"{kbps}k", "-minrate", f"{kbps}k",
            "-maxrate", f"{kbps}k", "-deadline", "realtime", "-cpu-used", "8",
            "-g", "100000", "-keyint_min", "100000", "-auto-alt-ref", "0", "-lag-in-frames", "0",
            "-c:a", "libopus", "-b:a", f"{AUDIO_KBPS}k", "-frame_duration", str(audio_ms),
            "-application", "voip",
            str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    video: list[bytes] = []
    audio: list[bytes] = []
    with av.open(str(path)) as container:
        for packet in container.demux():
            if not packet.size:
                continue
            if packet.stream.type == "video":
                if not video and not packet.is_keyframe:
                    raise RuntimeError("the clip does not start with a keyframe")
                video.append(bytes(packet))
            elif packet.stream.type == "audio":
                audio.append(bytes(packet))
    return Clip(video, audio, fps, kbps, audio_ms)


class PacketTrack(MediaStreamTrack):
    """Hands aiortc pre-encoded packets in real time; aiortc only packetizes them."""

    def __init__(self, packets: list[bytes], period: float, clock_rate: int) -> None:
        super().__init__()
        self._packets = packets
        self._period = period
        self._ticks = round(period * clock_rate)
        self._time_base = Fraction(1, clock_rate)
        self._index = 0
        self._count = 0
        self._started: float | None = None
        self.keyframe_requests: list[float] = []  # when Janus asked (time.monotonic())

    def request_keyframe(self) -> None:
        """Janus asked for a keyframe: the next frame is the clip's first, a keyframe."""
        self.keyframe_requests.append(time.monotonic())
        self._index = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._started is None:
            self._started = time.monotonic()
        delay = self._started + self._count * self._period - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self._packets[self._index])
        packet.pts = self._count * self._ticks
        packet.time_base = self._time_base
        self._index = (self._index + 1) % len(self._packets)
        self._count += 1
        return packet


class VideoPackets(PacketTrack):
    kind = "video"


class AudioPackets(PacketTrack):
    kind = "audio"


class _NoDecoder:
    def decode(self, encoded_frame) -> list:
        return []


def never_decode() -> None:
    """Receivers reassemble frames (so NACKs and RTCP behave) but never decode them."""
    aiortc.rtcrtpreceiver.get_decoder = lambda codec: _NoDecoder()


DTLS_RESENDS = {"flights": 0, "resent": 0}


def browser_like_dtls_timer() -> None:
    """Re-send a DTLS client's first flight after 50, 100, 200 and 400 ms without answer.

    Janus drops a ClientHello that reaches it before it is ready for DTLS on the new ICE
    pair, which happens to subscribers answering at once. aiortc (through pyOpenSSL,
    which cannot set the initial timer) retries only after OpenSSL's 1 s; WebRTC in
    browsers starts at 50 ms. Without this, the benchmark would measure aiortc's timer.
    """
    transport_class = aiortc.rtcdtlstransport.RTCDtlsTransport
    connecting = aiortc.rtcdtlstransport.State.CONNECTING
    mangled = "_RTCDtlsTransport__"

    async def resend(dtls, data: bytes) -> None:
        delay = 0.05
        for _ in range(4):  # then OpenSSL's own timer (1 s) takes over
            await asyncio.sleep(delay)
            if dtls._state != connecting or getattr(dtls, mangled + "rx_packets"):
                return
            DTLS_RESENDS["resent"] += 1
            with contextlib.suppress(ConnectionError):
                await dtls.transport._send(data)
            delay *= 2

    async def write_ssl(self) -> None:  # aiortc's _write_ssl, plus the early re-sends
        try:
            data = self._ssl.bio_read(1500)
        except OpenSSL.SSL.Error:
            data = b""
        if not data:
            return
        await self.transport._send(data)
        setattr(self, mangled + "tx_bytes", getattr(self, mangled + "tx_bytes") + len(data))
        sent = getattr(self, mangled + "tx_packets") + 1
        setattr(self, mangled + "tx_packets", sent)
        if sent == 1 and self._role == "client" and self._state == connecting:
            DTLS_RESENDS["flights"] += 1
            asyncio.ensure_future(resend(self, data))

    transport_class._write_ssl = write_ssl


# --- peers ---------------------------------------------------------------------------------


def _peer_connection() -> RTCPeerConnection:
    # No ICE servers (the default adds a public STUN server); max-bundle for the monitor.
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


@dataclass
class Probe:
    """Arrival times of one received stream, taken as its RTP packets come in."""

    label: str
    kind: str
    publisher: Publisher
    subscriber: Subscriber
    joined_at: float
    packets: int = 0
    frames: int = 0
    first_packet: float | None = None
    first_frame: float | None = None  # last packet of the first VP8 keyframe
    _keyframe_ts: int | None = None

    def wrap(self, receiver, vp8_payload_types: set[int]) -> None:
        original = receiver._handle_rtp_packet

        async def handle(packet, arrival_time_ms):
            now = time.monotonic()
            self.packets += 1
            if self.first_packet is None:
                self.first_packet = now
            if packet.payload_type in vp8_payload_types:
                self.frames += packet.marker
                if self.first_frame is None:
                    self._look_for_keyframe(packet, now)
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle

    def _look_for_keyframe(self, packet, now: float) -> None:
        try:
            descriptor, data = VpxPayloadDescriptor.parse(packet.payload)
        except ValueError:
            return
        if descriptor.partition_start and descriptor.partition_id == 0 and data:
            if not data[0] & 0x01:  # VP8 frame tag: P bit clear on a keyframe
                self._keyframe_ts = packet.timestamp
        if packet.marker and packet.timestamp == self._keyframe_ts:
            self.first_frame = now

    @property
    def offer_to_frame(self) -> float | None:
        if self.first_frame is None:
            return None
        return self.first_frame - self.publisher.offer_sent_at

    @property
    def join_to_frame(self) -> float | None:
        return None if self.first_frame is None else self.first_frame - self.joined_at

    def timeline(self) -> str:
        """Where a slow first frame lost its time (ms from the publisher's offer)."""
        origin = self.publisher.offer_sent_at
        marks = {"join": self.joined_at, "first packet": self.first_packet}
        marks.update(self.subscriber.states)
        marks["keyframe"] = self.first_frame
        for i, asked in enumerate(self.publisher.video.keyframe_requests[:4]):
            marks[f"PLI#{i + 1} at publisher"] = asked
        for end, lag in STALLS:
            if origin < end < (self.first_frame or end):
                marks[f"generator stalled {1000 * lag:.0f} ms until"] = end
        shown = sorted((t - origin, name) for name, t in marks.items() if t is not None)
        return f"{self.label}: " + ", ".join(f"{name} {1000 * t:.0f}" for t, name in shown)


@dataclass
class Publisher:
    name: str
    clip: Clip
    pc: RTCPeerConnection = field(default_factory=_peer_connection)
    handle: Handle | None = None
    feed_id: int = 0
    offer_sent_at: float = 0.0
    video: VideoPackets | None = None

    async def publish(self, session: Session, room: rooms.Room) -> None:
        self.handle = await session.attach(affinity=room.id if AFFINITY else None)
        audio = AudioPackets(self.clip.audio, self.clip.audio_ms / 1000, 48000)
        self.video = VideoPackets(self.clip.video, 1 / self.clip.fps, 90000)
        self.pc.addTrack(audio)
        sender = self.pc.addTrack(self.video)
        # aiortc answers PLI/FIR by asking its encoder for a keyframe; there is none here.
        sender._send_keyframe = self.video.request_keyframe
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers candidates
        self.offer_sent_at = time.monotonic()
        offer = {"type": "offer", "sdp": self.pc.localDescription.sdp}
        publication = await rooms.publish(self.handle, room, offer, display=self.name)
        self.feed_id = publication.feed_id
        answer = publication.answer
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))


@dataclass
class Subscriber:
    name: str
    pc: RTCPeerConnection = field(default_factory=_peer_connection)
    probes: list[Probe] = field(default_factory=list)
    states: dict[str, float] = field(default_factory=dict)  # "ice:completed" -> time

    def __post_init__(self) -> None:
        def seen(prefix: str, state: str) -> None:
            self.states.setdefault(f"{prefix}:{state}", time.monotonic())

        self.pc.on("iceconnectionstatechange", lambda: seen("ice", self.pc.iceConnectionState))
        self.pc.on("connectionstatechange", lambda: seen("pc", self.pc.connectionState))

    async def subscribe(
        self, session: Session, room: rooms.Room, publishers: list[Publisher], timeout: float
    ) -> None:
        handle = await session.attach(affinity=room.id if AFFINITY else None)
        for publisher in publishers:  # Janus refuses feeds that are not up yet
            await asyncio.wait_for(publisher.handle.webrtc_up.wait(), timeout)
        joined_at = time.monotonic()
        # What rooms.monitor does for a monitor, with the feeds in a known order so that
        # each received stream is matched to its publisher.
        offer = await rooms.subscribe(handle, room, [p.feed_id for p in publishers])
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        vp8 = {int(pt) for pt in re.findall(r"a=rtpmap:(\d+) VP8/90000", offer["sdp"])}
        # Janus offers each feed's streams in the order of the request, audio then video.
        for kind in ("audio", "video"):
            transceivers = [t for t in self.pc.getTransceivers() if t.kind == kind]
            if len(transceivers) != len(publishers):
                raise RuntimeError(f"{self.name}: {len(transceivers)} {kind} streams offered")
            for publisher, transceiver in zip(publishers, transceivers, strict=True):
                probe = Probe(f"{self.name} <- {publisher.name}", kind, publisher, self, joined_at)
                probe.wrap(transceiver.receiver, vp8)
                self.probes.append(probe)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await rooms.start(handle, {"type": "answer", "sdp": self.pc.localDescription.sdp})


@dataclass
class Call:
    index: int
    room: rooms.Room
    control: Handle
    publishers: list[Publisher]
    subscribers: list[Subscriber]

    @property
    def probes(self) -> list[Probe]:
        return [p for s in self.subscribers for p in s.probes]

    @property
    def peers(self) -> list[RTCPeerConnection]:
        return [p.pc for p in self.publishers] + [s.pc for s in self.subscribers]


async def start_call(
    client: JanusClient, janus: JanusProcess, clip: Clip, index: int, timeout: float
) -> Call:
    session = await client.create_session()
    control = await session.attach()
    room = await rooms.create_room(
        control,
        admin_key=janus.room_admin_key,
        record=True,
        rec_dir=janus.recording_dir / f"call-{index}",
    )
    kiosk, relative = Publisher("kiosk", clip), Publisher("relative", clip)
    await asyncio.gather(kiosk.publish(session, room), relative.publish(session, room))
    subscribers = [Subscriber("kiosk"), Subscriber("relative"), Subscriber("monitor")]
    await asyncio.gather(
        subscribers[0].subscribe(session, room, [relative], timeout),
        subscribers[1].subscribe(session, room, [kiosk], timeout),
        subscribers[2].subscribe(session, room, [kiosk, relative], timeout),
    )
    return Call(index, room, control, [kiosk, relative], subscribers)


@dataclass
class Load:
    client: JanusClient
    calls: list[Call] = field(default_factory=list)
    probe_calls: list[Call] = field(default_factory=list)
    max_lag: float = 0.0  # the generator's worst event-loop delay while the calls start

    @property
    def probes(self) -> list[Probe]:
        return [p for c in self.calls for p in c.probes]


STALLS: list[tuple[float, float]] = []  # (end, length) of the generator's loop stalls


async def _watch_lag(load: Load | None = None, period: float = 0.01) -> None:
    while True:
        before = time.monotonic()
        await asyncio.sleep(period)
        lag = time.monotonic() - before - period
        if load is not None:
            load.max_lag = max(load.max_lag, lag)
        if lag > 0.03:
            STALLS.append((time.monotonic(), lag))


async def _first_frames(probes: list[Probe], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(p.first_frame is None for p in probes if p.kind == "video"):
        if time.monotonic() > deadline:
            missing = [p.label for p in probes if p.kind == "video" and not p.first_frame]
            raise RuntimeError(f"no video frame within {timeout} s on {missing}")
        await asyncio.sleep(0.005)


async def set_up(load: Load, janus: JanusProcess, clip: Clip, n: int, timeout: float) -> None:
    """Start the N calls together; return once every subscriber has had a frame."""
    await load.client.connect()
    lag = asyncio.ensure_future(_watch_lag(load))
    try:
        started = await asyncio.gather(
            *(start_call(load.client, janus, clip, i, timeout) for i in range(n)),
            return_exceptions=True,
        )
        load.calls = [c for c in started if isinstance(c, Call)]
        errors = [e for e in started if isinstance(e, BaseException)]
        if errors:
            raise RuntimeError(f"{len(errors)} of {n} calls failed to start") from errors[0]
        await _first_frames(load.probes, timeout)
    finally:
        lag.cancel()


async def probe_call(
    load: Load, janus: JanusProcess, clip: Clip, index: int, timeout: float
) -> list[Probe]:
    """One more call started alone on the loaded Janus, then ended."""
    lag = asyncio.ensure_future(_watch_lag())
    try:
        call = await start_call(load.client, janus, clip, index, timeout)
        load.probe_calls.append(call)
        await _first_frames(call.probes, timeout)
    finally:
        lag.cancel()
    await end_call(call)
    return [p for p in call.probes if p.kind == "video"]


async def end_call(call: Call) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(rooms.destroy_room(call.control, call.room), 5)
    await asyncio.gather(*(pc.close() for pc in call.peers), return_exceptions=True)


async def tear_down(load: Load) -> None:
    await asyncio.gather(*(end_call(c) for c in load.calls + load.probe_calls))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(load.client.close(destroy_sessions=True), 5)


# --- measurement ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    cpu: float  # % of one core
    rss: int  # bytes, at the end of the window


def sample(process: psutil.Process, seconds: float) -> Sample:
    def ticks() -> float:
        times = process.cpu_times()
        return times.user + times.system

    ticks0, window = ticks(), CpuWindow(process.pid)
    time.sleep(seconds)
    cpu = window.percent()
    if cpu is None:  # a thread ended during the window: only the process's total has its time
        cpu = 100 * (ticks() - ticks0) / window.elapsed()
    return Sample(cpu, process.memory_info().rss)


class BenchJanus(JanusProcess):
    """Janus as deployed (our generator's configuration). For comparison only,
    ``event_loops=0`` gives each handle a thread of its own (Janus's default)."""

    def __init__(self, *args, event_loops: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if event_loops:
            self.config = dataclasses.replace(self.config, event_loops=event_loops)
        self.thread_per_handle = event_loops == 0

    def _prepare(self) -> list[str]:
        arguments = super()._prepare()
        if self.thread_per_handle:
            jcfg = self.config_dir / "janus.jcfg"
            text, found = re.subn(
                r"\n\tevent_loops = \d+\n\tallow_loop_indication = true", "", jcfg.read_text()
            )
            if found != 1:
                raise RuntimeError("event_loops not found in the generated janus.jcfg")
            jcfg.write_text(text)
        return arguments


@dataclass
class Level:
    calls: int
    idle: Sample
    loaded: Sample
    generator_cpu: float  # % of one core, during the window
    generator_lag: float  # s, worst event-loop delay of the generator while the calls start
    together: list[Probe]  # video streams of the N calls started together
    alone: list[Probe]  # video streams of the calls started one at a time on the loaded Janus
    received_fps: float  # mean over the video streams received, during the window
    load_average: float = 0.0  # the machine's, 1 minute, at the end of the window
    recordings: int = 0
    recording_bytes: int = 0
    runs: list[float] = field(default_factory=list)  # CPU per call of each run, if repeated

    @property
    def cpu_per_call(self) -> float:
        if self.runs:
            return statistics.median(self.runs)
        return (self.loaded.cpu - self.idle.cpu) / self.calls

    @property
    def rss_per_call(self) -> float:
        return (self.loaded.rss - self.idle.rss) / self.calls


def merge(runs: list[Level]) -> Level:
    """One level measured several times, each on a fresh Janus: the median run's CPU and
    memory, every run's first frames."""
    by_cpu = sorted(runs, key=lambda lv: lv.cpu_per_call)
    middle = by_cpu[(len(by_cpu) - 1) // 2]
    return dataclasses.replace(
        middle,
        generator_cpu=max(lv.generator_cpu for lv in runs),
        generator_lag=max(lv.generator_lag for lv in runs),
        together=[p for lv in runs for p in lv.together],
        alone=[p for lv in runs for p in lv.alone],
        received_fps=min(lv.received_fps for lv in runs),
        load_average=max(lv.load_average for lv in runs),
        runs=[lv.cpu_per_call for lv in runs],
    )


def run_level(netns: Netns, runner: NetnsRunner, workdir: Path, clip: Clip, n: int, args) -> Level:
    folder = workdir / f"janus-{n}"
    folder.mkdir(parents=True)
    janus = BenchJanus(netns, folder, name=f"bench-{n}", event_loops=args.event_loops)
    janus.start()
    load = Load(JanusClient(janus.ws_url, request_timeout=10))
    try:
        process = psutil.Process(program_pid(janus.process.pid, "janus"))
        time.sleep(2)  # let Janus finish starting before the idle sample
        idle = sample(process, args.idle)
        timeout = args.setup_timeout
        runner.run(set_up(load, janus, clip, n, timeout), timeout=timeout + 30)
        time.sleep(args.warmup)
        video = [p for p in load.probes if p.kind == "video"]
        frames_before = [p.frames for p in video]
        myself = psutil.Process()
        generator = myself.cpu_times()
        start = time.monotonic()
        loaded = sample(process, args.window)
        elapsed = time.monotonic() - start
        generator_after = myself.cpu_times()
        frames = sum(p.frames for p in video) - sum(frames_before)
        silent = [p.label for p in load.probes if p.packets == 0]
        if silent:
            raise RuntimeError(f"streams without packets: {silent}")
        alone: list[Probe] = []
        for i in range(args.probes):  # after the window: they must not disturb it
            alone += runner.run(probe_call(load, janus, clip, n + i, timeout), timeout + 30)
        for probe in video + alone:
            if probe.offer_to_frame > GOAL_FIRST_FRAME:
                print(f"  slow first frame: {probe.timeline()}", flush=True)
        level = Level(
            calls=n,
            idle=idle,
            loaded=loaded,
            generator_cpu=100 * (sum(generator_after[:2]) - sum(generator[:2])) / elapsed,
            generator_lag=load.max_lag,
            together=video,
            alone=alone,
            received_fps=frames / len(video) / elapsed,
            load_average=os.getloadavg()[0],
        )
    finally:
        with contextlib.suppress(Exception):
            runner.run(tear_down(load), timeout=30)
        janus.stop()
    files = list(janus.recording_dir.rglob("*.mjr"))
    level.recordings = len(files)
    level.recording_bytes = sum(f.stat().st_size for f in files)
    expected = 4 * (n + args.probes)
    if level.recordings != expected:
        raise RuntimeError(f"{level.recordings} recordings, {expected} expected")
    return level


# --- report --------------------------------------------------------------------------------


def _p(values: list[float]) -> str:
    return f"{ms(percentile(values, 0.5))} / **{ms(percentile(values, 0.95))}**"


def offer_to_frame(probes: list[Probe]) -> list[float]:
    return [p.offer_to_frame for p in probes]


def join_to_frame(probes: list[Probe]) -> list[float]:
    return [p.join_to_frame for p in probes]


def table(levels: list[Level]) -> str:
    lines = [
        "| calls | Janus CPU, idle → loaded | per call | Janus RSS, idle → loaded | per call "
        "| first frame p50 / p95, N calls starting together | one more call on the loaded "
        "Janus | its subscriber part | frames/s received | load generator CPU, worst lag |",
        "| ---: | --- | ---: | --- | ---: | --- | --- | --- | ---: | --- |",
    ]
    for lv in levels:
        lines.append(
            f"| {lv.calls} | {lv.idle.cpu:.1f} % → {lv.loaded.cpu:.1f} % | "
            f"**{lv.cpu_per_call:.2f} %**{spread(lv)} | {lv.idle.rss / 2**20:.0f} → "
            f"{lv.loaded.rss / 2**20:.0f} MiB | {lv.rss_per_call / 2**20:.1f} MiB | "
            f"{_p(offer_to_frame(lv.together))} | {_p(offer_to_frame(lv.alone))} | "
            f"{_p(join_to_frame(lv.alone))} | {lv.received_fps:.1f} | "
            f"{lv.generator_cpu:.0f} %, {ms(lv.generator_lag)} |"
        )
    return "\n".join(lines)


def spread(level: Level) -> str:
    if len(level.runs) < 2:
        return ""
    return f" ({min(level.runs):.2f}–{max(level.runs):.2f})"


def saturated(level: Level, fps: int) -> bool:
    """The load generator (one Python thread) fell behind: frames were lost on the way
    in, or its event loop stalled for more than a few frames."""
    return level.received_fps < 0.97 * fps or level.generator_lag > 0.1


def verdict(levels: list[Level], fps: int) -> list[str]:
    worst_cpu = max(lv.cpu_per_call for lv in levels)

    def met(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    def per_level(probes_of) -> str:
        parts = []
        for lv in levels:
            values = offer_to_frame(probes_of(lv))
            if not values:
                continue
            p95 = percentile(values, 0.95)
            mark = "met" if p95 < GOAL_FIRST_FRAME else "not met"
            flag = " (load generator saturated)" if saturated(lv, fps) else ""
            parts.append(f"N = {lv.calls}: {ms(p95)}, {mark}{flag}")
        return "; ".join(parts)

    runs = [cpu for lv in levels for cpu in lv.runs]
    single_runs = f"; single runs {min(runs):.2f}–{max(runs):.2f} %" if len(runs) > 1 else ""
    lines = [
        f"CPU: {min(lv.cpu_per_call for lv in levels):.2f}–{worst_cpu:.2f} % of a core per "
        f"recorded call (goal ≤ {GOAL_CPU_PER_CALL:.0f} %): "
        f"{met(worst_cpu <= GOAL_CPU_PER_CALL)}{single_runs}.",
        f"First frame p95 (goal < {ms(GOAL_FIRST_FRAME)}), N calls starting together: "
        f"{per_level(lambda lv: lv.together)}.",
    ]
    if any(lv.alone for lv in levels):
        lines.append(
            f"First frame p95, one more call on the loaded Janus: {per_level(lambda lv: lv.alone)}."
        )
    return lines


def document(levels: list[Level], args) -> str:
    command = "bench/bench_media.py --calls " + ",".join(str(lv.calls) for lv in levels)
    for option in ("runs", "fps", "video_kbps", "audio_ms", "event_loops", "nice"):
        if getattr(args, option) != parser_defaults[option]:
            command += f" --{option.replace('_', '-')} {getattr(args, option)}"
    if args.no_affinity:
        command += " --no-affinity"
    bullets = "\n".join(f"- {line}" for line in verdict(levels, args.fps))
    return f"""
`.venv/bin/python {command}`, {date.today().isoformat()}: {machine()};
{wake_up_costs()};
{tool_version(["janus", "--version"])}, aiortc {aiortc.__version__}. Goals (issue 4): Janus at most
{GOAL_CPU_PER_CALL:.0f} % of a core per recorded call, first frame under
{ms(GOAL_FIRST_FRAME)} at p95.

Each call: one room recorded by Janus (4 .mjr files), a kiosk and a relative publishing
{WIDTH}x{HEIGHT} VP8 at {args.fps} frames/s (~{args.video_kbps} kbit/s) and Opus
({AUDIO_KBPS} kbit/s), each subscribed to the other, and a monitor subscribed to both: per
call Janus receives 4 streams, records 4 and sends 8. For each N a fresh Janus (configured
by our generator) runs in a private network namespace; the N calls start together, as at
the start of a booking slot. CPU: the time Janus's threads ran (schedstat, nanoseconds)
over a {args.window:.0f} s steady window ({args.warmup:.0f} s after the last first frame),
as % of one core, minus its idle CPU (over {args.idle:.0f} s before the calls), divided by
N; memory: resident memory (VmRSS), likewise. Each N is measured {args.runs} times, each
time on a fresh Janus: the table shows the run of median CPU (the range over the runs in
brackets) and the first frames of all runs. First frame: from a publisher's offer sent to
Janus to the last RTP packet of the first VP8 keyframe at each of its subscribers (2
viewers + 2 monitor streams per call). After the window, {args.probes} more calls start
one at a time on the loaded Janus ("one more call"); "its subscriber part" is the share
from the subscriber's join request. The load generator sends a pre-encoded clip and never
decodes (bench/README.md); its CPU and worst event-loop delay while the N calls start are
in the last column. The machine's load average (other work shares it) at the end of each
window: {", ".join(f"{lv.load_average:.1f}" for lv in levels)}.

{table(levels)}

{bullets}

Why Janus costs what it costs, what lowered it, how real browsers compare and how the
machine weighs on it: the next section, "Media plane: what Janus's CPU goes to".
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,2,4,8", help="comma-separated call counts")
    parser.add_argument("--fps", type=int, default=FPS, help="video frames per second")
    parser.add_argument("--video-kbps", type=int, default=VIDEO_KBPS, help="video bitrate")
    parser.add_argument(
        "--audio-ms", type=int, default=AUDIO_MS, choices=(20, 40, 60), help="Opus packet length"
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per call count (median CPU, all first frames)"
    )
    parser.add_argument("--window", type=float, default=20, help="steady window, s")
    parser.add_argument("--warmup", type=float, default=5, help="s after the first frames")
    parser.add_argument("--idle", type=float, default=10, help="idle baseline window, s")
    parser.add_argument("--probes", type=int, default=3, help="calls started alone, after")
    parser.add_argument(
        "--event-loops",
        type=int,
        default=None,
        help="Janus's media threads (default: as deployed, one per core; 0: one per handle)",
    )
    parser.add_argument(
        "--no-affinity",
        action="store_true",
        help="attach handles without loop_index (Janus spreads them over its threads)",
    )
    parser.add_argument(
        "--openssl-dtls-timer",
        action="store_true",
        help="keep aiortc's 1 s first DTLS retransmission (see browser_like_dtls_timer)",
    )
    parser.add_argument("--setup-timeout", type=float, default=30)
    parser.add_argument("--max-seconds", type=int, default=1800, help="hard limit for the run")
    parser.add_argument("--nice", type=int, default=0, help=NICE_HELP)
    parser.add_argument("--no-doc", action="store_true", help="do not touch performance.md")
    args = parser.parse_args()
    parser_defaults.update(vars(parser.parse_args([])))
    counts = [int(c) for c in args.calls.split(",") if c.strip()]
    if not counts or min(counts) < 1 or max(counts) > 32:
        parser.error("--calls takes counts between 1 and 32")
    if args.runs < 1:
        parser.error("--runs takes a count of at least 1")

    bound_run(args.max_seconds, args.nice)
    global AFFINITY
    AFFINITY = not args.no_affinity
    never_decode()
    if not args.openssl_dtls_timer:
        browser_like_dtls_timer()
    levels: list[Level] = []
    with tempfile.TemporaryDirectory(prefix="parloir-bench-media-") as tmp:
        workdir = Path(tmp)
        print(f"encoding the {WIDTH}x{HEIGHT} test clip…", flush=True)
        clip = encode_clip(workdir, args.fps, args.video_kbps, args.audio_ms)
        with private_netns(prefix="parloir-bm") as netns, running_in(netns) as runner:
            # The generator's full garbage collections paused its event loop for up to
            # ~120 ms, which first-frame times then counted: collect between levels only.
            gc.disable()
            for n in counts:
                runs = []
                for run in range(args.runs):
                    gc.collect()
                    print(f"{n} call(s), run {run + 1} of {args.runs}…", flush=True)
                    runs.append(run_level(netns, runner, workdir / f"run-{run}", clip, n, args))
                    print(table(runs[-1:]).splitlines()[-1], flush=True)
                levels.append(merge(runs))
    printed = table(levels) + "\n" + "\n".join(verdict(levels, args.fps))
    publish(SECTION, printed, None if args.no_doc else document(levels, args))


if __name__ == "__main__":
    try:
        main()
    except Interrupted as exc:
        sys.exit(f"bench_media: stopped ({exc}); Janus and the namespace were cleaned up")
