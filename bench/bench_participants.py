"""Benchmark of calls of several participants (issue 19): Janus's CPU per call and per
participant, and first frames, for calls of 2, 3 and 4 participants on a real Janus in a
private network namespace.

    .venv/bin/python bench/bench_participants.py [--participants 2,3,4] [--calls 3]
        [--rounds 3] [--window 20] [--layouts mesh,mesh-capped,detainee-video] [--no-doc]

A call of N participants is a kiosk and N-1 relatives in one VideoRoom recorded by Janus
(2 N .mjr files); every participant publishes audio and video and has one multistream
subscriber handle (rooms.subscribe) to what it receives of the others. Layouts:

- ``mesh``: every participant receives every other's audio and video (N (N-1) video
  streams forwarded per call), every video at the room's cap (512 kbit/s);
- ``mesh-capped``: the same, with each relative's video capped as parloir caps it in a
  call of 3 or more (rooms.publish(..., bitrate=settings.GROUP_RELATIVE_VIDEO_BITRATE),
  checked through Janus's admin API) and sending a clip encoded at what the cap allows
  (capped_kbps), as a browser obeying Janus's REMB would;
- ``detainee-video``: the kiosk receives everyone; a relative receives the kiosk's audio
  and video and the other relatives' audio only (2 (N-1) video streams forwarded), what a
  relative's screen would show without simulcast to spend less on relatives' tiles.

For each N and round, a fresh Janus (our generator's configuration) is sampled idle,
then K calls start together; once every participant has a frame from every other and
5 s more have passed, Janus's CPU is read over the steady window. Reported: Janus's CPU
minus its idle CPU, per call and per participant (median round), CPU(4)/CPU(2) per call
against the goal (at most 2.5), the time from a participant's join (its publisher's
offer) to the first complete video keyframe from each other participant (p50, p95), and
the load generator's own CPU. Peers reuse bench_media.py's: a pre-encoded clip sent as
it is, receivers that never decode. See bench/README.md.

Results go to the "Calls of several participants (bench_participants.py)" section of
docs/performance.md (--no-doc to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiortc  # noqa: E402
from aiortc import RTCSessionDescription  # noqa: E402
from aiortc.codecs import vpx  # noqa: E402

from bench import bench_media  # noqa: E402
from bench.bench_media import (  # noqa: E402
    AUDIO_KBPS,
    FPS,
    HEIGHT,
    VIDEO_KBPS,
    WIDTH,
    AudioPackets,
    BenchJanus,
    Call,
    Clip,
    Probe,
    Publisher,
    Subscriber,
    VideoPackets,
    _first_frames,
    _watch_lag,
    browser_like_dtls_timer,
    encode_clip,
    end_call,
    never_decode,
)
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
    thread_cpu_ns,
    tool_version,
    wake_up_costs,
)
from media import rooms  # noqa: E402
from media.janus import JanusAdmin, JanusClient, Session  # noqa: E402
from tests.media.harness import Netns, NetnsRunner, private_netns, running_in  # noqa: E402

SECTION = "Calls of several participants (bench_participants.py)"
GOAL_RATIO = 2.5  # issue 19: CPU of a 4-participant call ≤ 2.5 × a 2-participant one
LAYOUTS = ("mesh", "mesh-capped", "detainee-video")
# What a relative's clip is encoded at where parloir caps its video (calls of 3 and more):
# a little under the cap (settings.GROUP_RELATIVE_VIDEO_BITRATE), as a browser obeying
# Janus's REMB sends (it aims below the estimate by its audio and packet overhead), the same
# 640x360 (see document()).
CAPPED_SHARE = 0.94


def capped_kbps(cap: int) -> int:
    """The clip's bitrate for a relative capped at ``cap`` bit/s: 240 kbit/s for 256000."""
    return round(cap * CAPPED_SHARE / 1000)


parser_defaults: dict = {}


# --- measuring ------------------------------------------------------------------------------


def stat_ticks(text: str) -> int:
    """utime + stime, in clock ticks, from the text of /proc/<pid>/stat."""
    # The command name, in brackets, may itself hold spaces or brackets: split after it.
    fields = text[text.rindex(")") + 2 :].split()
    # Fields 14 and 15 of proc(5), counting pid and the command name as 1 and 2.
    return int(fields[11]) + int(fields[12])


def proc_stat_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` from /proc/<pid>/stat, in seconds (10 ms ticks)."""
    return stat_ticks(Path(f"/proc/{pid}/stat").read_text()) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    """A process's CPU over a window: ``schedstat`` (each thread's nanoseconds, the
    figure reported) and ``stat`` (utime + stime, clock ticks, the cross-check), both in
    CPU seconds."""

    seconds: float  # wall-clock length of the window
    schedstat: float
    stat: float

    @property
    def percent(self) -> float:
        """% of one core."""
        return 100 * self.schedstat / self.seconds


def cpu_over(pid: int, seconds: float) -> CpuSample:
    stat0, window = proc_stat_cpu_seconds(pid), CpuWindow(pid)
    time.sleep(seconds)
    percent = window.percent()
    stat = proc_stat_cpu_seconds(pid) - stat0
    elapsed = window.elapsed()
    # A thread that ended during the window took its schedstat with it: fall back.
    busy = stat if percent is None else percent * elapsed / 100
    return CpuSample(elapsed, busy, stat)


def net_cpu(loaded: CpuSample, idle: CpuSample) -> float:
    """% of one core that the calls cost: loaded minus idle, each per second."""
    return loaded.percent - idle.percent


def ratio(cpu_by_n: dict[int, float], big: int = 4, small: int = 2) -> float | None:
    if big not in cpu_by_n or small not in cpu_by_n or cpu_by_n[small] <= 0:
        return None
    return cpu_by_n[big] / cpu_by_n[small]


def video_streams(n: int, layout: str) -> int:
    """Video streams Janus forwards in a call of ``n`` participants."""
    if layout in ("mesh", "mesh-capped") or n <= 2:
        return n * (n - 1)
    return 2 * (n - 1)  # the kiosk gets n-1, each relative the kiosk's


# --- the calls ------------------------------------------------------------------------------


@dataclass
class Participant:
    publisher: Publisher
    subscriber: Subscriber

    @property
    def name(self) -> str:
        return self.publisher.name


@dataclass
class GroupCall:
    call: Call
    participants: list[Participant]

    def video(self) -> list[tuple[Participant, Probe]]:
        """Each video stream received, with the participant receiving it."""
        return [
            (p, probe) for p in self.participants for probe in p.subscriber.probes
            if probe.kind == "video"
        ]  # fmt: skip


def wanted(me: int, other: int, layout: str) -> tuple[str, ...]:
    """What participant ``me`` receives of ``other`` (index 0 is the kiosk)."""
    if layout in ("mesh", "mesh-capped") or me == 0 or other == 0:
        return ("audio", "video")
    return ("audio",)


def capped(index: int, n: int, layout: str) -> bool:
    """Whether participant ``index`` (0 is the kiosk) publishes under parloir's cap for a
    relative in a call of several relatives (calls/consumers.py, on_publish): a relative,
    in a call of 3 or more, in the "mesh-capped" layout."""
    return layout == "mesh-capped" and n >= 3 and index > 0


def group_relative_video_bitrate(var_dir: Path) -> int:
    """settings.GROUP_RELATIVE_VIDEO_BITRATE as parloir reads it (environment included);
    the test settings only supply the secrets the settings insist on."""
    os.environ.setdefault("PARLOIR_VAR_DIR", str(var_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parloir.test_settings")
    from django.conf import settings

    return int(settings.GROUP_RELATIVE_VIDEO_BITRATE)


@dataclass(frozen=True)
class Clips:
    full: Clip  # everyone's, where nothing caps it
    capped: Clip  # a capped relative's
    cap: int  # bit/s, the publisher's bitrate asked of Janus for a capped relative

    def of(self, index: int, n: int, layout: str) -> tuple[Clip, int | None]:
        """Participant ``index``'s clip and its cap (None: the room's)."""
        return (self.capped, self.cap) if capped(index, n, layout) else (self.full, None)


def packets_per_second(clip: Clip) -> tuple[float, float]:
    """RTP packets per second of the clip's video and of its audio as aiortc sends them
    (VP8 frames cut at aiortc's PACKET_MAX less a 4-byte payload descriptor; one Opus
    packet per packet)."""
    size = vpx.PACKET_MAX - 4
    per_frame = sum(-(-len(frame) // size) for frame in clip.video) / len(clip.video)
    return per_frame * clip.fps, 1000 / clip.audio_ms


def sent_against_cap(clips: Clips) -> str:
    """How the capped clip as sent compares with what a browser obeying the cap sends."""
    sent, cap = clip_kbps(clips.capped), clips.cap / 1000
    if sent <= cap:
        return (
            "a little under the cap, as a browser's encoder targets the estimate less its "
            "audio and packet overhead (so if anything the measure is on the expensive side)"
        )
    return (
        f"{100 * (sent / cap - 1):.0f} % over the cap (libvpx overshoots its target at so "
        "low a rate), where a browser obeying the REMB stays under it: the measure is on "
        "the expensive side"
    )


def clip_kbps(clip: Clip) -> float:
    """The clip's video as it is sent: its frames' bytes per second, in kbit/s."""
    return sum(len(frame) for frame in clip.video) * 8 * clip.fps / len(clip.video) / 1000


class CappedPublisher(Publisher):
    """bench_media's publisher, joining with a ``bitrate`` for Janus to cap its video at
    (rooms.publish(..., bitrate=), as parloir's consumer asks for a relative in a call of
    several). Janus sends that cap to the peer as REMB; a browser obeys it, this peer cannot
    (pre-encoded media): its clip is encoded at what the cap allows."""

    def __init__(self, name: str, clip: Clip, bitrate: int | None) -> None:
        super().__init__(name, clip)
        self.bitrate = bitrate

    async def publish(self, session: Session, room: rooms.Room) -> None:
        # Publisher.publish, with the bitrate.
        self.handle = await session.attach(affinity=room.id if bench_media.AFFINITY else None)
        audio = AudioPackets(self.clip.audio, self.clip.audio_ms / 1000, 48000)
        self.video = VideoPackets(self.clip.video, 1 / self.clip.fps, 90000)
        self.pc.addTrack(audio)
        sender = self.pc.addTrack(self.video)
        sender._send_keyframe = self.video.request_keyframe
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.offer_sent_at = time.monotonic()
        offer = {"type": "offer", "sdp": self.pc.localDescription.sdp}
        publication = await rooms.publish(
            self.handle, room, offer, display=self.name, bitrate=self.bitrate
        )
        self.feed_id = publication.feed_id
        answer = publication.answer
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))


@dataclass
class CountingProbe(Probe):
    """bench_media's probe, also counting the RTP payload bytes received."""

    payload_bytes: int = 0

    def wrap(self, receiver, vp8_payload_types: set[int]) -> None:
        super().wrap(receiver, vp8_payload_types)
        probed = receiver._handle_rtp_packet

        async def handle(packet, arrival_time_ms):
            self.payload_bytes += len(packet.payload)
            await probed(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle


def sender_kind(publisher) -> str:
    """How the tables name a publisher: "kiosk", "relative" (a relative's video where
    uncapped) or "capped relative"."""
    if publisher.name == "kiosk":
        return "kiosk"
    return "capped relative" if getattr(publisher, "bitrate", None) else "relative"


def received_kbps(
    probes: list[CountingProbe], before: dict[int, int], seconds: float
) -> dict[str, float]:
    """Median kbit/s of the video streams received over a window, by sender: "kiosk",
    "relative" (a relative's video where uncapped), "capped relative"."""
    by_sender: dict[str, list[float]] = {}
    for probe in probes:
        if probe.kind != "video":
            continue
        kind = sender_kind(probe.publisher)
        kbps = (probe.payload_bytes - before[id(probe)]) * 8 / seconds / 1000
        by_sender.setdefault(kind, []).append(kbps)
    return {kind: statistics.median(values) for kind, values in by_sender.items()}


async def janus_caps(janus: BenchJanus, calls: list[GroupCall]) -> dict[str, list[int]]:
    """The video cap Janus applies to each publisher (admin API, handle_info's
    plugin_specific "bitrate", what it sends as REMB), by sender as in received_kbps."""
    found: dict[str, set[int]] = {}
    async with JanusAdmin(janus.admin_ws_url, janus.admin_secret) as admin:
        for call in calls:
            for p in call.participants:
                publisher = p.publisher
                info = await admin.handle_info(publisher.handle.session.id, publisher.handle.id)
                cap = int(info["plugin_specific"].get("bitrate", 0))
                found.setdefault(sender_kind(publisher), set()).add(cap)
    return {kind: sorted(values) for kind, values in found.items()}


def check_caps(caps: dict[str, list[int]], clips: Clips) -> None:
    """Capped relatives capped at parloir's rate, everyone else at the room's."""
    for kind, values in caps.items():
        wanted_cap = clips.cap if kind == "capped relative" else rooms.DEFAULT_BITRATE
        if values != [wanted_cap]:
            raise RuntimeError(f"Janus caps {kind}s at {values} bit/s, not {wanted_cap}")


async def subscribe(
    subscriber: Subscriber,
    session: Session,
    room: rooms.Room,
    sources: list[tuple[Publisher, tuple[str, ...]]],
    timeout: float,
) -> None:
    """One multistream subscription to ``sources``, each for the kinds given."""
    handle = await session.attach(affinity=room.id)
    publishers = [p for p, _ in sources]
    for publisher in publishers:  # Janus refuses feeds that are not up yet
        await asyncio.wait_for(publisher.handle.webrtc_up.wait(), timeout)
    joined_at = time.monotonic()
    if all(kinds == ("audio", "video") for _, kinds in sources):
        offer = await rooms.subscribe(handle, room, [p.feed_id for p in publishers])
    else:
        # rooms.subscribe takes whole feeds; a stream of a feed is named by its mid.
        streams = [
            {"feed": p.feed_id, "mid": t.mid}
            for p, kinds in sources
            for t in p.pc.getTransceivers()
            if t.kind in kinds
        ]
        body = {
            "request": "join",
            "ptype": "subscriber",
            "room": room.id,
            "pin": room.pin,
            "streams": streams,
        }
        _, offer = await handle.message(body)
    await subscriber.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
    vp8 = {int(pt) for pt in re.findall(r"a=rtpmap:(\d+) VP8/90000", offer["sdp"])}
    # Janus offers the streams in the order asked for, so each kind's in the sources' order.
    for kind in ("audio", "video"):
        senders = [p for p, kinds in sources if kind in kinds]
        transceivers = [t for t in subscriber.pc.getTransceivers() if t.kind == kind]
        if len(transceivers) != len(senders):
            raise RuntimeError(f"{subscriber.name}: {len(transceivers)} {kind} streams offered")
        for publisher, transceiver in zip(senders, transceivers, strict=True):
            label = f"{subscriber.name} <- {publisher.name}"
            probe = CountingProbe(label, kind, publisher, subscriber, joined_at)
            probe.wrap(transceiver.receiver, vp8)
            subscriber.probes.append(probe)
    await subscriber.pc.setLocalDescription(await subscriber.pc.createAnswer())
    await rooms.start(handle, {"type": "answer", "sdp": subscriber.pc.localDescription.sdp})


async def start_call(
    client: JanusClient,
    janus: BenchJanus,
    clips: Clips,
    index: int,
    n: int,
    layout: str,
    timeout: float,
    loop: int | None = None,
) -> GroupCall:
    """``loop``: put the call on that media thread of Janus (its handles' loop_index is
    the room's id modulo the threads, media/janus.py)."""
    session = await client.create_session()
    control = await session.attach()
    for _ in range(100):
        room = await rooms.create_room(
            control,
            admin_key=janus.room_admin_key,
            record=True,
            rec_dir=janus.recording_dir / f"call-{index}",
            publishers=n,
        )
        if loop is None or room.id % await client.event_loops() == loop:
            break
        await rooms.destroy_room(control, room)  # room ids are random: draw again
    else:
        raise RuntimeError(f"no room id for media thread {loop} in 100 draws")
    names = ["kiosk"] + [f"relative{i}" for i in range(1, n)]
    people = [
        Participant(CappedPublisher(name, *clips.of(i, n, layout)), Subscriber(name))
        for i, name in enumerate(names)
    ]
    await asyncio.gather(*(p.publisher.publish(session, room) for p in people))
    await asyncio.gather(
        *(
            subscribe(
                me.subscriber,
                session,
                room,
                [
                    (other.publisher, wanted(i, j, layout))
                    for j, other in enumerate(people)
                    if j != i
                ],
                timeout,
            )
            for i, me in enumerate(people)
        )
    )
    call = Call(index, room, control, [p.publisher for p in people], [p.subscriber for p in people])
    return GroupCall(call, people)


@dataclass
class Round:
    n: int
    layout: str
    calls: int
    idle: CpuSample
    loaded: CpuSample
    generator: CpuSample  # the load generator's CPU over the window
    generator_lag: float  # s, worst event-loop delay while the calls start
    join_to_frame: list[float]  # a participant's offer → first keyframe from each other
    subscriber_part: list[float]  # its subscription's join request → that keyframe
    alone: list[float]  # join → first keyframe in one more call started on the loaded Janus
    received_fps: float
    load_average: float
    recordings: int = 0
    caps: dict[str, list[int]] = field(default_factory=dict)  # Janus's, by sender
    kbps: dict[str, float] = field(default_factory=dict)  # video received, by sender

    @property
    def per_call(self) -> float:
        return net_cpu(self.loaded, self.idle) / self.calls

    @property
    def per_participant(self) -> float:
        return self.per_call / self.n


async def set_up(
    client: JanusClient,
    janus: BenchJanus,
    clips: Clips,
    k: int,
    n: int,
    layout: str,
    timeout: float,
    started: list[GroupCall],
) -> float:
    """Start the K calls together; return the generator's worst loop delay meanwhile."""
    await client.connect()
    load = bench_media.Load(client)
    lag = asyncio.ensure_future(_watch_lag(load))
    try:
        outcomes = await asyncio.gather(
            *(start_call(client, janus, clips, i, n, layout, timeout) for i in range(k)),
            return_exceptions=True,
        )
        started += [c for c in outcomes if isinstance(c, GroupCall)]
        errors = [e for e in outcomes if isinstance(e, BaseException)]
        if errors:
            raise RuntimeError(f"{len(errors)} of {k} calls failed to start") from errors[0]
        await _first_frames([p for c in started for p in c.call.probes], timeout)
    finally:
        lag.cancel()
    return load.max_lag


def join_to_frame(calls: list[GroupCall]) -> list[float]:
    """From each participant's join (its offer sent to Janus) to the first keyframe it
    received from each other participant whose video it receives."""
    return [
        probe.first_frame - participant.publisher.offer_sent_at
        for c in calls
        for participant, probe in c.video()
    ]


async def probe_call(
    client: JanusClient,
    janus: BenchJanus,
    clips: Clips,
    index: int,
    n: int,
    layout: str,
    timeout: float,
    started: list[GroupCall],
) -> list[float]:
    """One more call started alone on the loaded Janus, then ended: first frames that do
    not count the K calls' set-ups competing for the generator's one thread."""
    call = await start_call(client, janus, clips, index, n, layout, timeout)
    started.append(call)
    await _first_frames(call.call.probes, timeout)
    await end_call(call.call)
    return join_to_frame([call])


async def tear_down(client: JanusClient, calls: list[GroupCall]) -> None:
    await asyncio.gather(*(end_call(c.call) for c in calls))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(destroy_sessions=True), 5)


def run_round(
    netns: Netns, runner: NetnsRunner, folder: Path, clips: Clips, n: int, layout: str, args
) -> Round:
    folder.mkdir(parents=True)
    janus = BenchJanus(netns, folder, name=f"bench-{n}")
    janus.start()
    client = JanusClient(janus.ws_url, request_timeout=10)
    calls: list[GroupCall] = []
    try:
        pid = program_pid(janus.process.pid, "janus")
        time.sleep(2)  # let Janus finish starting before the idle sample
        idle = cpu_over(pid, args.idle)
        timeout = args.setup_timeout
        lag = runner.run(
            set_up(client, janus, clips, args.calls, n, layout, timeout, calls), timeout + 30
        )
        caps = runner.run(janus_caps(janus, calls), 30)
        check_caps(caps, clips)
        time.sleep(args.warmup)
        probes = [p for c in calls for p in c.call.probes]
        video = [p for p in probes if p.kind == "video"]
        frames_before = sum(p.frames for p in video)
        bytes_before = {id(p): p.payload_bytes for p in video}
        me = os.getpid()
        generator0, generator_window = proc_stat_cpu_seconds(me), CpuWindow(me)
        loaded = cpu_over(pid, args.window)
        generator_percent = generator_window.percent()
        generator_stat = proc_stat_cpu_seconds(me) - generator0
        elapsed = generator_window.elapsed()
        generator = CpuSample(
            elapsed,
            generator_stat if generator_percent is None else generator_percent * elapsed / 100,
            generator_stat,
        )
        frames = sum(p.frames for p in video) - frames_before
        kbps = received_kbps(video, bytes_before, elapsed)
        silent = [p.label for p in probes if p.packets == 0]
        if silent:
            raise RuntimeError(f"streams without packets: {silent}")
        expected = args.calls * video_streams(n, layout)
        if len(video) != expected:
            raise RuntimeError(f"{len(video)} video streams received, {expected} expected")
        alone: list[float] = []
        for i in range(args.probes):  # after the window: they must not disturb it
            alone += runner.run(
                probe_call(client, janus, clips, args.calls + i, n, layout, timeout, calls),
                timeout + 30,
            )
        result = Round(
            n=n,
            layout=layout,
            calls=args.calls,
            idle=idle,
            loaded=loaded,
            generator=generator,
            generator_lag=lag,
            join_to_frame=join_to_frame(calls[: args.calls]),
            subscriber_part=[
                probe.join_to_frame for c in calls[: args.calls] for _, probe in c.video()
            ],
            alone=alone,
            received_fps=frames / len(video) / loaded.seconds,
            load_average=os.getloadavg()[0],
            caps=caps,
            kbps=kbps,
        )
    finally:
        with contextlib.suppress(Exception):
            runner.run(tear_down(client, calls), timeout=30)
        janus.stop()
    result.recordings = len(list(janus.recording_dir.rglob("*.mjr")))
    expected = 2 * n * (args.calls + args.probes)
    if result.recordings != expected:
        raise RuntimeError(f"{result.recordings} recordings, {expected} expected")
    return result


# --- side by side: every size at once, each on a media thread of its own -----------------


def loop_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of Janus's threads (schedstat), summed by media thread ("hloop N", as
    Janus names them) and the rest ("other")."""
    by_name: dict[str, float] = {}
    for tid, ns in thread_cpu_ns(pid).items():
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        key = name if name.startswith("hloop ") else "other"
        by_name[key] = by_name.get(key, 0.0) + ns / 1e9
    return by_name


@dataclass
class SideBySide:
    """One round: every slot (layout, N) measured over the same window, on its own loop."""

    slots: list[tuple[str, int]]
    calls: int
    per_call: dict[tuple[str, int], float]  # % of one core
    other: float  # % of one core, Janus's threads that are not media loops, loaded - idle
    generator: float  # % of one core
    load_average: float


async def set_up_side_by_side(
    client: JanusClient,
    janus: BenchJanus,
    clips: Clips,
    slots: list[tuple[str, int]],
    loops: list[int],
    k: int,
    timeout: float,
    started: list[GroupCall],
) -> None:
    await client.connect()
    outcomes = await asyncio.gather(
        *(
            start_call(client, janus, clips, i * k + j, n, layout, timeout, loop)
            for i, ((layout, n), loop) in enumerate(zip(slots, loops, strict=True))
            for j in range(k)
        ),
        return_exceptions=True,
    )
    started += [c for c in outcomes if isinstance(c, GroupCall)]
    errors = [e for e in outcomes if isinstance(e, BaseException)]
    if errors:
        raise RuntimeError(f"{len(errors)} calls failed to start") from errors[0]
    await _first_frames([p for c in started for p in c.call.probes], timeout)


def run_side_by_side(
    netns: Netns,
    runner: NetnsRunner,
    folder: Path,
    clips: Clips,
    slots: list[tuple[str, int]],
    shift: int,
    args,
) -> SideBySide:
    folder.mkdir(parents=True)
    janus = BenchJanus(netns, folder, name="bench-sbs", event_loops=len(slots))
    janus.start()
    client = JanusClient(janus.ws_url, request_timeout=10)
    calls: list[GroupCall] = []
    # Each round moves every slot to the next thread, so that no size keeps a thread
    # that the scheduler happens to favour.
    loops = [(i + shift) % len(slots) for i in range(len(slots))]
    try:
        pid = program_pid(janus.process.pid, "janus")
        time.sleep(2)
        idle0, started_idle = loop_cpu_seconds(pid), time.monotonic()
        time.sleep(args.idle)
        idle1, idle_seconds = loop_cpu_seconds(pid), time.monotonic() - started_idle
        timeout = args.setup_timeout
        runner.run(
            set_up_side_by_side(client, janus, clips, slots, loops, args.calls, timeout, calls),
            timeout + 30,
        )
        check_caps(runner.run(janus_caps(janus, calls), 30), clips)
        time.sleep(args.warmup)
        me = os.getpid()
        generator = CpuWindow(me)
        before, started = loop_cpu_seconds(pid), time.monotonic()
        time.sleep(args.window)
        after, seconds = loop_cpu_seconds(pid), time.monotonic() - started
        generator_percent = generator.percent() or 0.0
        silent = [p.label for c in calls for p in c.call.probes if p.packets == 0]
        if silent:
            raise RuntimeError(f"streams without packets: {silent}")

        def percent(key: str) -> float:
            loaded = (after.get(key, 0) - before.get(key, 0)) / seconds
            idle = (idle1.get(key, 0) - idle0.get(key, 0)) / idle_seconds
            return 100 * (loaded - idle)

        result = SideBySide(
            slots=slots,
            calls=args.calls,
            per_call={
                slot: percent(f"hloop {loop}") / args.calls
                for slot, loop in zip(slots, loops, strict=True)
            },
            other=percent("other"),
            generator=generator_percent,
            load_average=os.getloadavg()[0],
        )
    finally:
        with contextlib.suppress(Exception):
            runner.run(tear_down(client, calls), timeout=30)
        janus.stop()
    return result


def side_by_side_table(rounds: list[SideBySide]) -> str:
    slots = rounds[0].slots
    big = [layout for layout, n in slots if n == 4]
    head = " | ".join(f"{layout} {n}, CPU per call" for layout, n in slots)
    ratios = " | ".join(f"4 / 2, {layout}" for layout in big)
    lines = [
        f"| round | {head} | Janus's other threads | {ratios} | load generator CPU "
        "| load average |",
        "| ---: | " + " | ".join("---:" for _ in [*slots, *big]) + " | ---: | ---: | ---: |",
    ]
    for i, r in enumerate(rounds, 1):
        cells = " | ".join(f"{r.per_call[slot]:.2f} %" for slot in slots)
        lines.append(
            f"| {i} | {cells} | {r.other:.2f} % | "
            + " | ".join(side_ratio(r, layout) for layout in big)
            + f" | {r.generator:.0f} % | {r.load_average:.1f} |"
        )
    return "\n".join(lines)


def side_ratio(r: SideBySide, layout: str) -> str:
    big, small = r.per_call.get((layout, 4)), r.per_call.get(("mesh", 2))
    return "–" if big is None or not small or small <= 0 else f"{big / small:.2f}"


def side_by_side_verdict(rounds: list[SideBySide]) -> list[str]:
    lines = []
    for layout in LAYOUTS:
        values = [float(side_ratio(r, layout)) for r in rounds if side_ratio(r, layout) != "–"]
        if not values:
            continue
        value = statistics.median(values)
        met = "**met**" if round(value, 2) <= GOAL_RATIO else "**not met**"
        lines.append(
            f"{layout}, side by side: CPU per call, 4 participants / 2 participants, median "
            f"of the rounds **{value:.2f}** (range {min(values):.2f}–{max(values):.2f}; goal ≤ "
            f"{GOAL_RATIO}): {met}."
        )
    return lines


def side_by_side_document(rounds: list[SideBySide], args) -> str:
    if not rounds:
        return ""
    slots = ", ".join(f"{layout} {n}" for layout, n in rounds[0].slots)
    bullets = "\n".join(f"- {line}" for line in side_by_side_verdict(rounds))
    return f"""
### Side by side

The rounds above measure each size a few minutes apart, and other work on this machine
changed Janus's cost per packet between them by more than the goal's margin. So the
ratio is measured a second way, which that drift cannot bias: {len(rounds)} rounds, each on a
fresh Janus with one media thread per kind of call ({len(rounds[0].slots)} threads:
{slots}), running {rounds[0].calls} calls of each kind at once, each kind's rooms on its own
thread (a room's handles share the thread its id selects, media/janus.py; the room id is
drawn again until it selects the wanted thread; the kinds move to the next thread at each
round). A thread's CPU (schedstat, "hloop N") over the same {args.window:.0f} s window,
minus its idle CPU, divided by {rounds[0].calls}, is a kind's CPU per call: every kind saw the
same load. Janus's other threads (signalling, the VideoRoom's handler) are reported apart;
they are not per packet. With {len(rounds[0].slots)} media threads on 2 cores they compete
for the cores, as calls do in a deployed Janus.

{side_by_side_table(rounds)}

{bullets}
"""


# --- report ---------------------------------------------------------------------------------


@dataclass
class Level:
    """One N and layout over its rounds: the median round's CPU, every round's frames."""

    n: int
    layout: str
    rounds: list[Round] = field(default_factory=list)

    @property
    def median(self) -> Round:
        ordered = sorted(self.rounds, key=lambda r: r.per_call)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def per_call(self) -> float:
        return statistics.median(r.per_call for r in self.rounds)

    @property
    def per_participant(self) -> float:
        return self.per_call / self.n

    def frames(self) -> list[float]:
        return [t for r in self.rounds for t in r.join_to_frame]

    def subscriber_part(self) -> list[float]:
        return [t for r in self.rounds for t in r.subscriber_part]

    def alone(self) -> list[float]:
        return [t for r in self.rounds for t in r.alone]


def _pp(values: Sequence[float]) -> str:
    return f"{ms(percentile(values, 0.5))} / {ms(percentile(values, 0.95))}"


SENDERS = ("kiosk", "relative", "capped relative")


def rates(r: Round) -> str:
    """Median kbit/s of a sender's video as received, with the cap Janus applies to it."""
    return ", ".join(
        f"{kind} {r.kbps[kind]:.0f} ({'/'.join(f'{c // 1000}' for c in r.caps.get(kind, []))})"
        for kind in SENDERS
        if kind in r.kbps
    )


def table(levels: list[Level]) -> str:
    lines = [
        "| layout | participants | video streams forwarded per call | Janus CPU, idle → "
        "loaded (median round) | per call | per participant | Janus CPU s over the window, "
        "schedstat / stat | first frame p50 / p95, K calls starting together | its "
        "subscriber part | one more call on the loaded Janus | frames/s received "
        "| video received, kbit/s (Janus's cap) | load generator CPU, worst lag |",
        "| --- | ---: | ---: | --- | ---: | ---: | --- | --- | --- | --- | ---: | --- | --- |",
    ]
    for lv in levels:
        m = lv.median
        rounds = [r.per_call for r in lv.rounds]
        spread = f" ({min(rounds):.2f}–{max(rounds):.2f})" if len(rounds) > 1 else ""
        lines.append(
            f"| {lv.layout} | {lv.n} | {video_streams(lv.n, lv.layout)} | "
            f"{m.idle.percent:.1f} % → {m.loaded.percent:.1f} % | "
            f"**{lv.per_call:.2f} %**{spread} | {lv.per_participant:.2f} % | "
            f"{m.loaded.schedstat:.2f} / {m.loaded.stat:.2f} | {_pp(lv.frames())} | "
            f"{_pp(lv.subscriber_part())} | {_pp(lv.alone())} | "
            f"{min(r.received_fps for r in lv.rounds):.1f} | {rates(m)} | "
            f"{max(r.generator.percent for r in lv.rounds):.0f} %, "
            f"{ms(max(r.generator_lag for r in lv.rounds))} |"
        )
    return "\n".join(lines)


def fit(points: Sequence[tuple[int, int, float]]) -> tuple[float, float] | None:
    """Least squares of CPU per call = a × participants + b × pairs, over (participants,
    pairs, CPU) points, a pair being one participant receiving another's audio and video:
    what a participant's own streams cost (received, decrypted, recorded) and what
    forwarding them to one more participant costs."""
    snn = sum(n * n for n, _, _ in points)
    snf = sum(n * f for n, f, _ in points)
    sff = sum(f * f for _, f, _ in points)
    sny = sum(n * y for n, _, y in points)
    sfy = sum(f * y for _, f, y in points)
    det = snn * sff - snf * snf
    if abs(det) < 1e-9:
        return None
    return (sny * sff - sfy * snf) / det, (sfy * snn - sny * snf) / det


def explanation(levels: list[Level], side: list[SideBySide], clips: Clips | None = None) -> str:
    # The side-by-side rounds, immune to the machine's drift, when there are some.
    points = [(n, n * (n - 1), r.per_call[(layout, n)]) for r in side
              for layout, n in r.slots if layout == "mesh"]  # fmt: skip
    source = "the side-by-side rounds"
    if len({n for n, _, _ in points}) < 2:
        points = [(r.n, r.n * (r.n - 1), r.per_call) for lv in levels if lv.layout == "mesh"
                  for r in lv.rounds]  # fmt: skip
        source = "the mesh's rounds"
    text = (
        "An SFU's work is per packet. A call of N participants sends Janus N audio and N "
        "video streams, which it records (2 N files), and in the mesh Janus forwards N (N-1) "
        "of each: 2 video streams forwarded for 2 participants, 12 for 4. Were forwarding "
        "the whole cost, the ratio would approach 6; were receiving and recording it, 2."
    )
    coefficients = fit(points)
    if coefficients is None:
        return text
    a, b = coefficients
    text += (
        f" Fitted over {source} (mesh), CPU per call ≈ {a:.2f} % × N + {b:.3f} % × N (N-1) "
        "(% of one core): forwarding one participant's audio and video to one more "
        f"participant costs Janus {100 * b / a if a > 0 else float('nan'):.0f} % of what "
        "receiving them costs (its packets received, decrypted and written to the "
        "recording). Probably because a packet received wakes a thread and is "
        "decrypted once, and its copies leave from that same thread: a call's handles, "
        "its subscribers' included, share one media loop (media/janus.py)."
    )
    forecast = {n: a * n + b * video_streams(n, "mesh") for n in (2, 4, 6)}
    text += (
        f" By that fit the mesh's ratio to a 2-participant call is "
        f"{forecast[4] / forecast[2]:.2f} for 4 participants and "
        f"{forecast[6] / forecast[2]:.2f} for 6."
    )
    text += capped_explanation(levels, side, clips)
    text += (
        "\n\nWhat keeps the goal met for bigger calls or where sending "
        'costs more: fewer or smaller video streams forwarded. "detainee-video" '
        "measures the first, at the price of relatives not seeing each other; the cap "
        "measures the second for relatives' faces. "
        "Simulcast (browsers sending a "
        "second layer, e.g. 320x180; Janus forwarding the lower one to relatives' small "
        "tiles and the upper one for the main view) would keep every face at a fraction of "
        "the packets; it is not measured here: aiortc publishes one encoding per track, "
        "and parloir's pages do not publish simulcast yet (static/js/protocol.js). "
        "Audio-only for relatives on weak links lowers it the same way."
    )
    return text


def capped_explanation(
    levels: list[Level], side: list[SideBySide], clips: Clips | None = None
) -> str:
    """What the relatives' cap saves, from the rounds and the side-by-side rounds."""
    per_call = {(lv.layout, lv.n): lv.per_call for lv in levels}
    if ("mesh", 4) not in per_call or ("mesh-capped", 4) not in per_call:
        return ""
    mesh, capped_ = per_call["mesh", 4], per_call["mesh-capped", 4]
    share = (
        f"{100 * clip_kbps(clips.capped) / clip_kbps(clips.full):.0f} % of the bytes"
        if clips is not None
        else "fewer bytes"
    )
    text = (
        '\n\nThe cap ("mesh-capped") forwards the same 12 video streams in a call of 4, '
        f"but 9 of them, the relatives', carry {share} and fewer packets per "
        f"frame: a call of 4 costs Janus {capped_:.2f} % of a core instead of {mesh:.2f} % "
        f"({100 * (capped_ - mesh) / mesh:+.0f} %) in the rounds"
    )
    pairs = [
        r.per_call[("mesh-capped", 4)] / r.per_call[("mesh", 4)]
        for r in side
        if ("mesh-capped", 4) in r.per_call and r.per_call.get(("mesh", 4), 0) > 0
    ]
    if pairs:
        text += (
            f", {100 * (statistics.median(pairs) - 1):+.0f} % side by side (median of the "
            "rounds' own ratios)"
        )
    text += "."
    if clips is not None:
        # Packets through Janus per second in a call of 4: each sender's received once
        # and forwarded to 3.
        full_video, audio = packets_per_second(clips.full)
        small_video, _ = packets_per_second(clips.capped)
        before = 4 * 4 * (full_video + audio)
        after = 4 * (full_video + audio) + 3 * 4 * (small_video + audio)
        text += (
            " Janus's work probably goes with packets more than with bytes (a packet costs "
            "a wake-up, a decryption and a write whatever its size): a relative's video "
            f"goes from {full_video:.0f} to "
            f"{small_video:.0f} packets/s ({small_video / FPS:.1f} packets a frame at "
            f"{capped_kbps(clips.cap)} kbit/s and {FPS} frames/s), and the audio, "
            f"{audio:.0f} packets/s per "
            f"stream, is untouched: the packets through Janus in a call of 4 go from "
            f"{before:.0f} to {after:.0f} per second ({100 * (after - before) / before:+.0f} "
            f"%), of which {100 * 4 * 4 * audio / after:.0f} % are audio."
        )
    small = per_call.get(("mesh", 2))
    if small:
        goal = GOAL_RATIO * small
        if capped_ > goal:
            text += (
                f" With the cap, a call of 4 is still above the goal (in the rounds, "
                f"{capped_:.2f} % against {goal:.2f} %, 2.5 times a call of 2). What is "
                "left is the packets the cap does not touch: the kiosk's video, "
                "forwarded to 3 at the room's rate, and everyone's audio. Fewer packets "
                "for the relatives' tiles needs a lower rate for them (one packet a frame "
                "takes at most about 130 kbit/s at 15 frames/s; fewer frames/s at the same "
                "rate sends as many packets), or simulcast's small layer."
            )
        else:
            text += f" The goal leaves a call of 4 up to {goal:.2f} % of a core."
    return text


def verdict(levels: list[Level]) -> list[str]:
    lines = []
    for layout in LAYOUTS:
        # N = 2 is the same call in both layouts: measured once, under "mesh".
        chosen = {lv.n: lv for lv in levels if lv.layout == layout or lv.n == 2}
        value = ratio({n: lv.per_call for n, lv in chosen.items()})
        if value is None or not any(lv.layout == layout for lv in levels):
            continue
        # Rounds run in turn through every size, so a round's two calls shared the
        # machine's load of that moment: their ratio is the fairer spread.
        paired = [
            big.per_call / small.per_call
            for big, small in zip(chosen[4].rounds, chosen[2].rounds, strict=False)
            if small.per_call > 0
        ]
        met = "**met**" if round(value, 2) <= GOAL_RATIO else "**not met**"
        lines.append(
            f"{layout}: CPU per call, 4 participants / 2 participants = "
            f"{chosen[4].per_call:.2f} % / {chosen[2].per_call:.2f} % = **{value:.2f}** "
            f"(goal ≤ {GOAL_RATIO}): {met}; round by round "
            f"{', '.join(f'{r:.2f}' for r in paired)} (median "
            f"{statistics.median(paired):.2f}); video streams forwarded "
            f"{video_streams(4, layout)} / {video_streams(2, layout)}."
        )
    return lines


def document(levels: list[Level], side: list[SideBySide], clips: Clips, args) -> str:
    command = "bench/bench_participants.py"
    options = ("participants", "calls", "rounds", "window", "layouts", "probes", "side_by_side")
    for option in (*options, "side_calls", "side_layouts", "nice"):
        if getattr(args, option) != parser_defaults[option]:
            command += f" --{option.replace('_', '-')} {getattr(args, option)}"
    bullets = "\n".join(f"- {line}" for line in verdict(levels))
    averages = [r.load_average for lv in levels for r in lv.rounds]
    loads = f"{min(averages):.1f} to {max(averages):.1f}, median {statistics.median(averages):.1f}"
    stalled = [lv for lv in levels if any(r.generator_lag > 0.1 for r in lv.rounds)]
    stalls = (
        "Rows whose load generator stalled more than 100 ms while calls started (worst "
        "lag, last column), so that their first frames count that stall: "
        + ", ".join(f"{lv.layout} {lv.n}" for lv in stalled)
        + "."
        if stalled
        else "The load generator never stalled more than 100 ms while calls started."
    )
    generator = max(r.generator.percent for lv in levels for r in lv.rounds)
    return f"""
`.venv/bin/python {command}`, {date.today().isoformat()}: {machine()};
{wake_up_costs()};
{tool_version(["janus", "--version"])}, aiortc {aiortc.__version__}. Goal (issue 19): a call of
4 participants costs Janus at most {GOAL_RATIO} times a call of 2.

A call of N participants: a kiosk and N-1 relatives in one room recorded by Janus (2 N
.mjr files), each publishing {WIDTH}x{HEIGHT} VP8 at {FPS} frames/s (~{VIDEO_KBPS}
kbit/s, pre-encoded) and Opus ({AUDIO_KBPS} kbit/s), each with one multistream
subscription (`rooms.subscribe`) to the others. "mesh": everyone receives everyone's
audio and video, N (N-1) video streams forwarded, every video at the room's cap
({rooms.DEFAULT_BITRATE // 1000} kbit/s), as parloir did before capping relatives.
"mesh-capped": the same, as parloir now does it: in a call of 3 or more, each relative
publishes with `bitrate` = `settings.GROUP_RELATIVE_VIDEO_BITRATE` ({clips.cap // 1000}
kbit/s; `rooms.publish(..., bitrate=)`, calls/consumers.py), Janus's REMB to the browser;
the kiosk keeps the room's cap. A browser obeys that REMB, these pre-encoded peers cannot,
so a capped relative sends a clip encoded at {capped_kbps(clips.cap)} kbit/s
({clip_kbps(clips.capped):.0f} kbit/s as sent, against {clip_kbps(clips.full):.0f} for the
full clip): {sent_against_cap(clips)}. Same
{WIDTH}x{HEIGHT}: Janus's work is per packet, and at a given bitrate a smaller picture
sends about the same packets (one or two per frame at {capped_kbps(clips.cap)} kbit/s and {FPS}
frames/s); and a browser does not necessarily shrink it (Chrome picks its first
resolution from its start bitrate, 300 kbit/s, still enough for 640x360 at its
threshold, then lowers it only when its encoder's quantizer stays high, which depends on
the picture). Each round checks with Janus's admin API (handle_info, plugin_specific
"bitrate") that it caps every capped relative at {clips.cap // 1000} kbit/s and every
other publisher at the room's {rooms.DEFAULT_BITRATE // 1000}, and the table gives the
video bitrate received from each kind of sender (the median stream's RTP payload over
the window; the cap Janus applies in brackets). "detainee-video": the kiosk receives
everyone, a relative the kiosk's audio and video and the other relatives' audio only, 2
(N-1) video streams, uncapped (N = 2 is the same call in every layout, with one
relative and no cap: measured once, under "mesh"). No monitor.
For each N, layout and round, a fresh Janus (our generator's configuration, one media
thread per core, a call's handles on one thread) runs in a private network namespace;
{args.calls} calls start together; CPU is the time Janus's threads ran (schedstat, in
CPU seconds; /proc/<pid>/stat's utime + stime, in 10 ms ticks, beside it as a
cross-check) over a {args.window:.0f} s window {args.warmup:.0f} s after every
participant had a frame from every other, as % of one core, minus Janus's idle CPU over
{args.idle:.0f} s before the calls, divided by the calls (then by N for a participant).
{args.rounds} rounds per row: the median round's CPU, the range over rounds in brackets,
every round's first frames. First frame: from a participant's join (its publisher's
offer sent to Janus, all participants joining together) to the last RTP packet of the
first complete VP8 keyframe from each other participant whose video it receives; "its
subscriber part" starts at the participant's subscription request (sent once every feed
it wants is up). After the window, {args.probes} more call(s) of the same size
started alone on the loaded Janus ("one more call"), for first frames that do not count
{args.calls} calls' set-ups competing for the load generator's thread. {stalls} Why
{args.calls} calls at once: with 4 participants that is
{4 * args.calls} publishers and {4 * args.calls} subscriptions, {args.calls * 12} video
streams received by the load generator, whose one Python thread then uses up to
{generator:.0f} % of a core of the 2 it shares with Janus (last column); with more, first
frames would count the generator's lateness and Janus would have less of the machine.
The rounds went through every size and layout in turn, so that the load of other work
sharing the machine (load average at the end of each round {loads}) weighs on all
rows alike. Janus ran at the niceness of the run (`--nice`, {args.nice}).

{table(levels)}

{bullets}
{side_by_side_document(side, args)}
### What the cost is made of, and what would meet the goal

{explanation(levels, side, clips)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", default="2,3,4", help="comma-separated call sizes")
    parser.add_argument("--calls", type=int, default=3, help="concurrent calls per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size and layout")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="mesh, detainee-video")
    parser.add_argument("--window", type=float, default=20, help="steady window, s")
    parser.add_argument("--warmup", type=float, default=5, help="s after the first frames")
    parser.add_argument("--idle", type=float, default=10, help="idle baseline window, s")
    parser.add_argument("--probes", type=int, default=1, help="calls started alone, after")
    parser.add_argument(
        "--side-by-side", type=int, default=5, help="rounds of the side-by-side measure (0: none)"
    )
    parser.add_argument(
        "--side-calls", type=int, default=2, help="calls of each kind in a side-by-side round"
    )
    # Each layout more is 2 calls of 4 more for the load generator's one thread, which
    # already has half a core's work with three.
    parser.add_argument(
        "--side-layouts",
        default="mesh,mesh-capped",
        help="layouts whose call of 4 is measured side by side with a call of 2",
    )
    parser.add_argument("--setup-timeout", type=float, default=30)
    parser.add_argument("--max-seconds", type=int, default=1800, help="hard limit for the run")
    parser.add_argument("--nice", type=int, default=0, help=NICE_HELP)
    parser.add_argument("--no-doc", action="store_true", help="do not touch performance.md")
    args = parser.parse_args()
    parser_defaults.update(vars(parser.parse_args([])))
    sizes = [int(n) for n in args.participants.split(",") if n.strip()]
    layouts = [layout.strip() for layout in args.layouts.split(",") if layout.strip()]
    if not sizes or min(sizes) < 2 or max(sizes) > 8:
        parser.error("--participants takes sizes between 2 and 8")
    if not layouts or set(layouts) - set(LAYOUTS):
        parser.error(f"--layouts takes {', '.join(LAYOUTS)}")
    if {lay.strip() for lay in args.side_layouts.split(",") if lay.strip()} - set(LAYOUTS):
        parser.error(f"--side-layouts takes {', '.join(LAYOUTS)}")
    if args.calls < 1 or args.rounds < 1:
        parser.error("--calls and --rounds take counts of at least 1")

    bound_run(args.max_seconds, args.nice)
    never_decode()
    browser_like_dtls_timer()
    # Every size in the first layout, then the sizes that differ in the others.
    plan = [(layout, n) for layout in layouts for n in sizes]
    plan = [(lay, n) for lay, n in plan if lay == layouts[0] or n > 2]
    with tempfile.TemporaryDirectory(prefix="parloir-bench-participants-") as tmp:
        workdir = Path(tmp)
        print(f"encoding the {WIDTH}x{HEIGHT} test clips…", flush=True)
        (workdir / "capped").mkdir()
        cap = group_relative_video_bitrate(workdir / "var")
        clips = Clips(
            full=encode_clip(workdir),
            capped=encode_clip(workdir / "capped", kbps=capped_kbps(cap)),
            cap=cap,
        )
        with private_netns(prefix="parloir-bp") as netns, running_in(netns) as runner:
            gc.disable()  # as in bench_media: full collections stalled the generator
            levels = [Level(n, layout if n > 2 else "mesh") for layout, n in plan]
            # Each round goes through every size and layout in turn: the machine's load
            # drifts (others share it), and the ratio compares sizes measured close together.
            for i in range(args.rounds):
                for (layout, n), level in zip(plan, levels, strict=True):
                    gc.collect()
                    print(f"round {i + 1}, {layout}, {n} participants…", flush=True)
                    folder = workdir / f"{layout}-{n}-{i}"
                    level.rounds.append(run_round(netns, runner, folder, clips, n, layout, args))
                    print(table([Level(n, layout, level.rounds[-1:])]).splitlines()[-1])
            side: list[SideBySide] = []
            side_layouts = {layout.strip() for layout in args.side_layouts.split(",")}
            slots = [("mesh", 2)] + [(layout, 4) for layout in LAYOUTS if layout in side_layouts]
            slots = [(lay, n) for lay, n in slots if n in sizes]
            side_args = argparse.Namespace(**{**vars(args), "calls": args.side_calls})
            for i in range(args.side_by_side if len(slots) > 1 else 0):
                gc.collect()
                print(f"side by side, round {i + 1}…", flush=True)
                folder = workdir / f"side-{i}"
                side.append(run_side_by_side(netns, runner, folder, clips, slots, i, side_args))
                print(side_by_side_table(side[-1:]).splitlines()[-1], flush=True)
    printed = table(levels) + "\n" + "\n".join(verdict(levels))
    if side:
        printed += "\n" + side_by_side_table(side) + "\n" + "\n".join(side_by_side_verdict(side))
    publish(SECTION, printed, None if args.no_doc else document(levels, side, clips, args))


if __name__ == "__main__":
    try:
        main()
    except Interrupted as exc:
        sys.exit(f"bench_participants: stopped ({exc}); Janus and the namespace were cleaned up")
