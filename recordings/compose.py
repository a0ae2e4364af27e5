"""From a call's Janus ``.mjr`` files to one WebM with every party, in sync, every voice heard.

No database here: the worker (recordings.jobs) and the benchmark both call it.

1. Each file's header is read here (``MJR00002``, a JSON header, then one ``MEET`` record
   per RTP packet): codec, and ``u``, the wall-clock time (microseconds) the media node
   wrote its first packet; walking the records gives the packet count and duration, and
   shows a file cut short by a crash. The earliest ``u`` is time 0 of the call; each
   stream is placed at its own ``u``, so both parties stay in sync even when one joined,
   or came back, later.
2. ``janus-pp-rec`` turns each file into a plain .webm (VP8) or .opus, without
   re-encoding, all files at once.
3. Video, when there is more than one stream: one picture, each party scaled into a
   320x240 tile, re-encoded to VP8 at 15 images/s. Two parties side by side (640x240,
   each in its half, black while away); three or four in a 640x480 grid of whoever is
   there, re-laid as parties arrive and leave (``presence``, ``segments``, ``layout``).
   Browsers show only the first video track of a file, so untouched tracks would let
   staff see one party only: composing is the one way to show everyone.
   A single video stream (one party without camera) is copied as it is.
4. Audio: every Opus stream decoded, put at its place, the detainee's side panned a little
   to the left and the relative's to the right (both still heard in both ears), mixed and
   re-encoded to Opus. A single audio stream is copied as it is.
5. The video and audio ffmpeg processes run at the same time; the mixed audio reaches the
   video process through a FIFO and is muxed there, without re-encoding, into WebM with its
   index (Cues) at the front, so that a browser seeks with byte ranges from the start.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import re
import signal
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MJR_NAME = re.compile(
    r"^videoroom-(?P<room>\d+)-user-(?P<feed>\d+)-(?P<ts>\d+)-(?P<kind>audio|video)-(?P<mindex>\d+)\.mjr$"
)
MJR_MAGIC = b"MJR00002"
LEFT, RIGHT = "left", "right"
# A call's third and fourth parties (its second and third relatives, issue #19).
THIRD, FOURTH = "third", "fourth"
SIDES = (LEFT, RIGHT, THIRD, FOURTH)
TILE_W, TILE_H, FPS = 320, 240, 15
VIDEO_BITRATE, AUDIO_BITRATE = "300k", "40k"
KEYFRAME_SECONDS = 2
# Each side keeps 80% in its own ear and 40% in the other one; a third party leans left
# and a fourth right (their columns in a grid of four).
PAN = {LEFT: (0.8, 0.4), RIGHT: (0.4, 0.8), THIRD: (0.8, 0.4), FOURTH: (0.4, 0.8)}
# Where the tiles go in a 640x480 picture, by how many parties are there (see ``layout``).
GRID = {
    0: [],
    1: [(TILE_W // 2, TILE_H // 2)],
    2: [(0, TILE_H // 2), (TILE_W, TILE_H // 2)],
    3: [(0, 0), (TILE_W, 0), (TILE_W // 2, TILE_H)],
    4: [(0, 0), (TILE_W, 0), (0, TILE_H), (TILE_W, TILE_H)],
}
# A party away for less than this (lost packets, a quick republication) keeps its place;
# a layout is shown for at least this long (see ``segments``).
PRESENCE_GAP = SHORTEST_LAYOUT = 1.0
PR_SET_PDEATHSIG = 1
FFMPEG = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


class ComposeError(Exception):
    """A tool failed; ``detail`` has the end of its output."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class SourceError(ComposeError):
    """One source file cannot be used (corrupt, empty, unknown codec)."""


@dataclass
class Source:
    """One .mjr file: one stream (audio or video) of one publisher."""

    path: Path
    feed: int
    kind: str  # "audio" or "video"
    codec: str = ""
    first_packet_us: int = 0
    packets: int = 0
    duration: float = 0.0
    truncated: bool = False
    side: str = ""

    @classmethod
    def from_name(cls, path: Path) -> Source | None:
        match = MJR_NAME.match(path.name)
        if match is None:
            return None
        return cls(path=path, feed=int(match["feed"]), kind=match["kind"])


@dataclass
class Track:
    """An extracted, playable stream and where it sits on the call's timeline."""

    source: Source
    path: Path
    offset: float = 0.0  # seconds from the call's first packet

    @property
    def duration(self) -> float:
        return self.source.duration

    @property
    def end(self) -> float:
        return self.offset + self.duration


@dataclass(frozen=True)
class Segment:
    """A stretch of the call's timeline (seconds) during which the same sides are there."""

    start: float
    end: float
    sides: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "sides": [*self.sides]}


@dataclass
class Composed:
    path: Path
    duration: float
    video: str  # "composed", "copied" or "none"
    audio: str  # "mixed", "copied" or "none"
    tracks: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # When composed: who was laid out in the picture, segment by segment.
    layout: list[dict] = field(default_factory=list)


def _die_with_parent() -> None:
    # A worker killed mid-job must not leave an ffmpeg writing into the work folder
    # that the job's next attempt is about to reuse.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _child_setup(nice: int) -> Callable[[], None]:
    def setup() -> None:
        _die_with_parent()
        if nice:
            os.nice(nice)

    return setup


@dataclass
class Outcome:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner:
    """Runs tools, several at once, calling ``heartbeat`` every ``interval`` seconds while
    they work: the worker renews its lease there, and a heartbeat that raises (lease lost)
    kills the tools. With ``check``, the first tool that fails stops the others: a video
    process that died must not leave the audio one blocked on its FIFO. ``nice``: how much
    lower than ours the tools' CPU priority is (the worker's setting:
    PARLOIR_RECORDINGS_NICE)."""

    def __init__(
        self,
        heartbeat: Callable[[], None] | None = None,
        interval: float = 5.0,
        timeout: float = 3600.0,
        log_dir: Path | None = None,
        nice: int = 0,
    ) -> None:
        self.heartbeat = heartbeat
        self.interval = interval
        self.timeout = timeout
        self.log_dir = log_dir
        self.nice = nice

    def run(
        self, *commands: Sequence[str], names: Sequence[str] = (), check: bool = True
    ) -> list[Outcome]:
        deadline = time.monotonic() + self.timeout
        procs: list[tuple[subprocess.Popen, BinaryIO]] = []
        exited: queue.Queue[subprocess.Popen] = queue.Queue()
        failed: subprocess.Popen | None = None
        try:
            for i, argv in enumerate(commands):
                log = self._log_file(names[i] if i < len(names) else Path(argv[0]).name)
                proc = self._start(argv, log)
                procs.append((proc, log))
                # One waiting thread per tool: the first exit wakes us, whichever it is.
                threading.Thread(
                    target=lambda p=proc: (p.wait(), exited.put(p)), daemon=True
                ).start()
            running = len(procs)
            while running:
                try:
                    proc = exited.get(timeout=self.interval)
                except queue.Empty:
                    if time.monotonic() > deadline:
                        raise ComposeError(f"Tools still running after {self.timeout:.0f} s")
                    if self.heartbeat is not None:
                        self.heartbeat()
                    continue
                running -= 1
                if check and proc.returncode != 0 and failed is None:
                    failed = proc
                    for other, _log in procs:
                        if other.poll() is None:
                            other.kill()
            outcomes = []
            for proc, log in procs:
                log.seek(0)
                outcomes.append(Outcome(proc.returncode, log.read().decode(errors="replace")))
        finally:
            for proc, log in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                log.close()
        if failed is not None:
            index = [p for p, _log in procs].index(failed)
            raise ComposeError(
                f"{Path(commands[index][0]).name} exited with {failed.returncode}",
                _tail(outcomes[index].output),
            )
        return outcomes

    def _start(self, argv: Sequence[str], log: BinaryIO) -> subprocess.Popen:
        return subprocess.Popen(  # noqa: S603 (fixed tools, arguments we build)
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_setup(self.nice),  # noqa: PLW1509
        )

    def _log_file(self, name: str) -> BinaryIO:
        if self.log_dir is None:
            return tempfile.TemporaryFile()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return (self.log_dir / f"{name}.log").open("w+b")


def _tail(text: str, lines: int = 12) -> str:
    # janus-pp-rec colours some lines even when told not to.
    clean = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return "\n".join(clean.strip().splitlines()[-lines:])


# --- Sources ----------------------------------------------------------------------------


def find_sources(folder: Path, room: int | None = None) -> list[Path]:
    """The .mjr files of a room in ``folder`` (all rooms' if ``room`` is None)."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        match = MJR_NAME.match(path.name)
        if match and (room is None or int(match["room"]) == room):
            found.append(path)
    return found


def read_header(source: Source) -> Source:
    """Fill in codec, first packet time, packets and duration; raise SourceError when the
    file cannot be used. Reading stops quietly at a record cut short by a crash."""
    name = source.path.name
    try:
        with source.path.open("rb", buffering=1024 * 1024) as f:
            if f.read(8) != MJR_MAGIC:
                raise SourceError(f"{name}: not a Janus recording (MJR00002)")
            (size,) = struct.unpack(">H", f.read(2) or b"\0\0")
            try:
                info = json.loads(f.read(size))
            except ValueError:
                raise SourceError(f"{name}: unreadable header") from None
            first = last = None
            packets = 0
            while True:
                record = f.read(10)
                if len(record) < 10 or record[:4] != b"MEET":
                    source.truncated = bool(record)
                    break
                ms, length = struct.unpack(">IH", record[4:])
                if len(f.read(length)) < length:
                    source.truncated = True
                    break
                packets += 1
                first = ms if first is None else first
                last = ms
    except OSError as exc:
        raise SourceError(f"{name}: cannot be read ({exc.strerror})") from None
    expected = "a" if source.kind == "audio" else "v"
    if info.get("t") != expected:
        raise SourceError(f"{name}: header says {info.get('t')!r}, not {expected!r}")
    source.codec = str(info.get("c", ""))
    source.first_packet_us = int(info.get("u") or info.get("s") or 0)
    source.packets = packets
    source.duration = (last - first) / 1000 if packets else 0.0
    if source.codec not in ("opus", "vp8"):
        raise SourceError(f"{name}: codec {source.codec!r} is not handled")
    if packets == 0 or not source.first_packet_us:
        raise SourceError(f"{name}: no media packet in the file")
    return source


def read_headers(sources: Sequence[Source]) -> list[SourceError | None]:
    """For each source, the reason it cannot be used, or None."""
    errors: list[SourceError | None] = []
    for source in sources:
        try:
            read_header(source)
        except SourceError as exc:
            errors.append(exc)
        else:
            errors.append(None)
    return errors


def extract(sources: Sequence[Source], out_dir: Path, runner: Runner) -> list[Track | SourceError]:
    """janus-pp-rec every source (no re-encoding), all at once; one result per source."""
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [
        out_dir / f"{s.path.stem}.{'opus' if s.kind == 'audio' else 'webm'}" for s in sources
    ]
    outcomes = runner.run(
        *[
            ["janus-pp-rec", "-o", "-d", "2", str(s.path), str(t)]
            for s, t in zip(sources, targets, strict=True)
        ],
        names=[f"extract-{s.path.stem}" for s in sources],
        check=False,
    )
    results: list[Track | SourceError] = []
    for source, target, outcome in zip(sources, targets, outcomes, strict=True):
        if not outcome.ok or not target.exists() or target.stat().st_size == 0:
            results.append(
                SourceError(f"{source.path.name}: extraction failed", _tail(outcome.output))
            )
        else:
            results.append(Track(source, target))
    return results


def probe(path: Path) -> dict:
    result = subprocess.run(  # noqa: S603
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration,start_time,format_name:stream=codec_type,codec_name,width,height,"
            "start_time,duration,channels",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise SourceError(f"{path.name}: ffprobe failed", _tail(result.stderr))
    return json.loads(result.stdout or "{}")


def first_frame(path: Path, kind: str) -> str:
    """The time of the first frame ffprobe can decode from ``path``, or "" if none: a video
    whose recording began between two keyframes may hold packets and no image at all."""
    selector = "v:0" if kind == "video" else "a:0"
    result = subprocess.run(  # noqa: S603
        ["ffprobe", "-v", "error", "-select_streams", selector, "-read_intervals", "%+#1",
         "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )  # fmt: skip
    return result.stdout.strip() if result.returncode == 0 else ""


def find_unplayable(tracks: Sequence[Track]) -> list[tuple[Track, SourceError]]:
    """The extracted files ffprobe cannot read, or whose stream decodes to nothing: looked
    for only when composing failed."""
    bad = []
    for track in tracks:
        name, kind = track.source.path.name, track.source.kind
        try:
            info = probe(track.path)
            if not any(s.get("codec_type") == kind for s in info.get("streams", [])):
                raise SourceError(f"{name}: no {kind} extracted")
            if not first_frame(track.path, kind):
                raise SourceError(f"{name}: no {kind} frame could be decoded")
        except SourceError as exc:
            bad.append((track, exc))
    return bad


def place(tracks: Sequence[Track]) -> int:
    """Set each track's offset on the call's timeline; return the wall-clock time (µs) of
    that timeline's zero."""
    base = min(t.source.first_packet_us for t in tracks)
    for track in tracks:
        track.offset = round((track.source.first_packet_us - base) / 1e6, 3)
    return base


# --- Composition ------------------------------------------------------------------------


def presence(
    tracks: Sequence[Track], gap: float = PRESENCE_GAP
) -> dict[str, list[tuple[float, float]]]:
    """When each side is there, on the call's timeline: while any of its streams (audio or
    video, any of its publications) runs. Gaps shorter than ``gap`` (a burst of lost
    packets, a quick republication) are filled, so that the picture does not jump."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for track in sorted(tracks, key=lambda t: (t.offset, t.end)):
        intervals = spans.setdefault(_side(track), [])
        if intervals and track.offset - intervals[-1][1] < gap:
            start, end = intervals[-1]
            intervals[-1] = (start, max(end, track.end))
        else:
            intervals.append((track.offset, track.end))
    return {side: spans[side] for side in SIDES if side in spans}


def segments(
    spans: dict[str, list[tuple[float, float]]], duration: float, shortest: float = SHORTEST_LAYOUT
) -> list[Segment]:
    """The timeline, from 0 to ``duration``, cut where the set of present sides changes.

    A layout that would last less than ``shortest`` (parties whose streams start or stop a
    few tenths apart, as at the end of every call) is not shown: that stretch takes the
    layout next to it that has a place for everyone in it, the following one first (a
    party about to arrive gets its tile a little early, black until its first picture).
    Whoever is there always has a place; a tile may only be laid a moment early or kept
    a moment late."""
    times = {t for intervals in spans.values() for span in intervals for t in span}
    cuts = sorted({0.0} | {t for t in times if 0 < t < duration})
    found: list[Segment] = []
    for start, end in zip(cuts, [*cuts[1:], duration], strict=True):
        present = tuple(
            side for side in SIDES if any(a <= start < b for a, b in spans.get(side, ()))
        )
        found.append(Segment(start, end, present))
    found = _joined(found)
    while True:
        for i, segment in enumerate(found):
            if segment.end - segment.start >= shortest:
                continue
            neighbours = [j for j in (i + 1, i - 1) if 0 <= j < len(found)]
            wider = [j for j in neighbours if set(segment.sides) <= set(found[j].sides)]
            if wider:
                found[i] = Segment(segment.start, segment.end, found[wider[0]].sides)
                break
        else:
            return found
        found = _joined(found)


def _joined(found: list[Segment]) -> list[Segment]:
    """Neighbouring segments with the same sides made one."""
    joined: list[Segment] = []
    for segment in found:
        if joined and joined[-1].sides == segment.sides:
            joined[-1] = Segment(joined[-1].start, segment.end, segment.sides)
        else:
            joined.append(segment)
    return joined


def layout(
    sides: Sequence[str], present: Sequence[str] | None = None
) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """The picture's width and height for a call whose ``sides`` show video, and where
    each of the ``present`` ones (all by default) has its tile (x, y).

    Two parties side by side (640x240: the detainee left, the relative right), each in
    its half for the whole call, black while absent. Three or four: a 640x480 picture
    re-laid with whoever is there, in the order detainee, then each relative by leg: one
    centred, two side by side in the middle, three as two above and one centred below,
    four in a 2x2 grid.
    """
    shown = [side for side in SIDES if side in set(sides)]
    if len(shown) <= 2:
        if set(shown) <= {LEFT, RIGHT}:
            return 2 * TILE_W, TILE_H, {LEFT: (0, 0), RIGHT: (TILE_W, 0)}
        return 2 * TILE_W, TILE_H, {side: (i * TILE_W, 0) for i, side in enumerate(shown)}
    there = [side for side in shown if present is None or side in present]
    return 2 * TILE_W, 2 * TILE_H, dict(zip(there, GRID[len(there)], strict=False))


def _side(track: Track) -> str:
    return track.source.side if track.source.side in SIDES else RIGHT


def _piecewise(values: Sequence[tuple[float, int]]) -> str:
    """An ffmpeg expression of ``t`` worth each value from its start time: a sum of steps
    (flat, however many changes), quoted for the filter graph."""
    first = values[0][1]
    steps = [
        f"{value - previous:+d}*gte(t,{start:.3f})"
        for (_start, previous), (start, value) in zip(values, values[1:], strict=False)
        if value != previous
    ]
    return f"'{first}{''.join(steps)}'" if steps else str(first)


def tile_command(track: Track, fifo: Path) -> list[str]:
    """Decode one video stream into raw 320x240 tiles at 15 images/s, into ``fifo``.

    One such process per stream, beside the composing one: decoding is the largest part
    of the work, and separate processes spread it over the cores.
    """
    # -copyts and start_time=0: the first tile is the file's time 0 (its first packet),
    # even when janus-pp-rec's first frame (a keyframe) came a little later.
    argv = [*FFMPEG, "-copyts"]
    # The loop filter only smooths block edges that the downscale makes invisible:
    # skipping it makes VP8 decoding about twice as fast. -reinit_filter 0 keeps the
    # stream going when a browser changes its resolution mid-call: the scaler adapts.
    argv += ["-skip_loop_filter", "all", "-threads", "1", "-reinit_filter", "0"]
    argv += ["-i", str(track.path), "-an"]
    argv += [
        "-vf",
        # Down to 15 images/s first: half as many frames to scale (browsers send 30).
        f"fps={FPS}:start_time=0,scale={TILE_W}:{TILE_H}:force_original_aspect_ratio=decrease"
        f":flags=fast_bilinear,pad={TILE_W}:{TILE_H}:-1:-1,format=yuv420p",
    ]
    # Raw pictures in NUT rather than bare: NUT keeps their timestamps, which a bare raw
    # stream would lose (ffmpeg ignores -itsoffset on one).
    return argv + ["-c:v", "rawvideo", "-f", "nut", str(fifo)]


def video_command(
    tiles: Sequence[tuple[Track, Path]],
    duration: float,
    out: Path,
    audio: tuple[Path, float] | None = None,
    timeline: Sequence[Segment] = (),
) -> list[str]:
    """Lay the tiles on a black picture, each at its time and at the place ``layout`` gives
    its side in each segment of ``timeline`` (off the picture while its side is away),
    encode it to VP8 and mux it with ``audio`` (an Ogg Opus path and its offset), copied."""
    argv = [*FFMPEG, "-copyts"]
    for track, fifo in tiles:
        argv += ["-itsoffset", f"{track.offset:.3f}", "-f", "nut", "-i", str(fifo)]
    if audio is not None:
        path, offset = audio
        argv += ["-itsoffset", f"{offset:.3f}", "-f", "ogg", "-i", str(path)]
    sides = [_side(track) for track, _fifo in tiles]
    width, height, _places = layout(sides)
    if not timeline:
        timeline = [Segment(0.0, duration, tuple(sides))]
    where = [(segment.start, layout(sides, segment.sides)[2]) for segment in timeline]
    graph = [f"color=c=black:s={width}x{height}:r={FPS}:d={duration:.3f}[bg]"]
    last = "bg"
    for i, side in enumerate(sides):
        # Away: just right of the picture, where overlay draws nothing.
        x = _piecewise([(start, places.get(side, (width, 0))[0]) for start, places in where])
        y = _piecewise([(start, places.get(side, (width, 0))[1]) for start, places in where])
        moving = ":eval=frame" if "'" in x + y else ""
        tail = ",format=yuv420p[out]" if i == len(tiles) - 1 else f"[o{i}]"
        graph.append(f"[{last}][{i}:v]overlay=x={x}:y={y}{moving}:eof_action=pass{tail}")
        last = f"o{i}"
    argv += ["-filter_complex", ";".join(graph), "-map", "[out]"]
    if audio is not None:
        argv += ["-map", f"{len(tiles)}:a", "-c:a", "copy"]
    # cpu-used 16 is libvpx's fastest real-time setting; one encoder thread, because the
    # tile and audio processes keep the other core busy.
    argv += ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "16", "-threads", "1"]
    argv += ["-b:v", VIDEO_BITRATE, "-g", str(FPS * KEYFRAME_SECONDS)]
    argv += ["-cues_to_front", "1", "-f", "webm", str(out)]
    return argv


def audio_command(tracks: Sequence[Track], out: Path) -> list[str]:
    argv = [*FFMPEG, "-copyts"]
    for track in tracks:
        argv += ["-i", str(track.path)]
    graph = []
    for i, track in enumerate(tracks):
        left, right = PAN[track.source.side]
        delay = int(round(track.offset * 1000))
        # async=1 fills the gaps of lost packets with silence, so later speech keeps its
        # place; adelay (not -itsoffset) because amix mixes by sample count, not by time.
        graph.append(
            f"[{i}:a]aresample=async=1:first_pts=0,aformat=channel_layouts=mono,"
            f"adelay={delay}:all=1,pan=stereo|c0={left}*c0|c1={right}*c0[a{i}]"
        )
    inputs = "".join(f"[a{i}]" for i in range(len(tracks)))
    graph.append(f"{inputs}amix=inputs={len(tracks)}:duration=longest:normalize=0[out]")
    argv += ["-filter_complex", ";".join(graph), "-map", "[out]", "-vn"]
    # Half of libopus's effort: a quarter less CPU, no difference heard on speech.
    argv += ["-c:a", "libopus", "-b:a", AUDIO_BITRATE, "-compression_level", "5"]
    argv += ["-f", "ogg", str(out)]
    return argv


def mux_command(video: Track | None, audio: Track | None, out: Path) -> list[str]:
    """One stream of each kind, copied at its offset: nothing to compose."""
    argv = [*FFMPEG, "-copyts"]
    maps: list[str] = []
    for index, (track, kind) in enumerate(
        (t, k) for t, k in ((video, "v"), (audio, "a")) if t is not None
    ):
        argv += ["-itsoffset", f"{track.offset:.3f}", "-i", str(track.path)]
        maps += ["-map", f"{index}:{kind}:0"]
    return argv + maps + ["-c", "copy", "-cues_to_front", "1", "-f", "webm", str(out)]


def _fifo(path: Path) -> Path:
    path.unlink(missing_ok=True)  # left by an attempt that failed
    os.mkfifo(path, 0o600)
    return path


def compose(tracks: Sequence[Track], work: Path, out: Path, runner: Runner) -> Composed:
    """Make ``out`` from placed tracks (see ``place``); every track has its ``side``."""
    if not tracks:
        raise ComposeError("No usable stream")
    videos = [t for t in tracks if t.source.kind == "video"]
    audios = [t for t in tracks if t.source.kind == "audio"]
    duration = max(t.end for t in tracks) + 1 / FPS
    audio_mode = "mixed" if len(audios) > 1 else ("copied" if audios else "none")
    composing = len(videos) > 1
    commands: list[list[str]] = []
    names: list[str] = []
    audio_input: tuple[Path, float] | None = None
    if len(audios) > 1:
        # Straight into the composing process when there is one; a file to mux otherwise.
        mixed = _fifo(work / "audio.fifo") if composing else work / "audio.ogg"
        commands.append(audio_command(audios, mixed))
        names.append("mix-audio")
        audio_input = (mixed, 0.0)
    elif audios:
        audio_input = (audios[0].path, audios[0].offset)
    clock = time.monotonic()
    timeline: list[Segment] = []
    if composing:
        video_mode = "composed"
        # Only parties with a camera get a tile; they are there while any stream of theirs
        # runs (their voice may come a little before their first picture).
        shown = {_side(track) for track in videos}
        timeline = segments(presence([t for t in tracks if _side(t) in shown]), duration)
        tiles = []
        for i, track in enumerate(videos):
            tiles.append((track, _fifo(work / f"tile-{i}.fifo")))
            commands.append(tile_command(track, tiles[-1][1]))
            names.append(f"tile-{i}")
        commands.append(video_command(tiles, duration, out, audio_input, timeline))
        names.append("compose")
        runner.run(*commands, names=names)
    else:
        video_mode = "copied" if videos else "none"
        if commands:
            runner.run(*commands, names=names)
        audio = None
        if audio_input is not None:
            audio = Track(Source(audio_input[0], 0, "audio"), audio_input[0], audio_input[1])
        runner.run(mux_command(videos[0] if videos else None, audio, out), names=["mux"])
    seconds = {"compose": time.monotonic() - clock}
    info = probe(out)
    final = float(info.get("format", {}).get("duration") or 0.0)
    if final <= 0:
        raise ComposeError("The composed recording has no duration")
    return Composed(
        path=out,
        duration=final,
        video=video_mode,
        audio=audio_mode,
        tracks=[
            {
                "file": t.source.path.name,
                "feed": t.source.feed,
                "kind": t.source.kind,
                "side": t.source.side,
                "offset": t.offset,
                "duration": round(t.duration, 3),
                "packets": t.source.packets,
                "truncated": t.source.truncated,
            }
            for t in tracks
        ],
        seconds=seconds,
        layout=[segment.as_dict() for segment in timeline],
    )
