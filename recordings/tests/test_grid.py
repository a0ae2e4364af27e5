"""A call of three or four parties is composed as a grid that follows who is there (issue
#19): every party present has its tile, every voice is in the mix, and the picture is
re-laid when someone arrives or leaves; two parties stay side by side.

The streams are made by ffmpeg (a plain colour and a tone each), as janus-pp-rec would
give them, and composed by the real recordings.compose.
"""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from recordings import compose

SECONDS = 2.0
COLOURS = {  # side -> (ffmpeg colour, expected RGB)
    compose.LEFT: ("red", (255, 0, 0)),
    compose.RIGHT: ("lime", (0, 255, 0)),
    compose.THIRD: ("blue", (0, 0, 255)),
}
TONES = {compose.LEFT: 440, compose.RIGHT: 660, compose.THIRD: 880}


def _ffmpeg(*args: str) -> None:
    subprocess.run([*compose.FFMPEG, *args], check=True, capture_output=True)


def _tracks(tmp_path: Path, sides, spans=None) -> list[compose.Track]:
    """A video and an audio stream per side; ``spans`` gives each side's publications
    (start, seconds) on the call's timeline, one file pair each (all of ``SECONDS`` at 0
    by default)."""
    tracks = []
    feed = 0
    for side in sides:
        colour, _rgb = COLOURS[side]
        for start, seconds in (spans or {}).get(side, [(0.0, SECONDS)]):
            feed += 1
            video = tmp_path / f"{side}-{feed}.webm"
            _ffmpeg(
                "-f", "lavfi", "-i", f"color=c={colour}:s=320x240:r=15:d={seconds}",
                "-c:v", "libvpx", "-b:v", "200k", str(video),
            )  # fmt: skip
            audio = tmp_path / f"{side}-{feed}.opus"
            _ffmpeg(
                "-f", "lavfi", "-i", f"sine=frequency={TONES[side]}:duration={seconds}",
                "-c:a", "libopus", "-ar", "48000", str(audio),
            )  # fmt: skip
            for kind, path in (("video", video), ("audio", audio)):
                source = compose.Source(
                    path=path, feed=feed, kind=kind, duration=seconds, side=side,
                    first_packet_us=1_000_000_000 + int(start * 1e6),
                )  # fmt: skip
                tracks.append(compose.Track(source, path))
    compose.place(tracks)
    return tracks


def _frame(path: Path, width: int, height: int, at: float = 1.0) -> np.ndarray:
    raw = subprocess.run(
        [*compose.FFMPEG, "-ss", f"{at}", "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


def _samples(path: Path) -> np.ndarray:
    """The sound of ``path``, mono at 8 kHz."""
    pcm = subprocess.run(
        [*compose.FFMPEG, "-i", str(path), "-vn", "-ac", "1", "-ar", "8000", "-f", "s16le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(pcm, np.int16).astype(float)


def _tile(frame: np.ndarray, x: int, y: int) -> np.ndarray:
    # The middle of the tile: clear of the edges the encoder blurs.
    th, tw = compose.TILE_H, compose.TILE_W
    return (
        frame[y + th // 4 : y + 3 * th // 4, x + tw // 4 : x + 3 * tw // 4].reshape(-1, 3).mean(0)
    )


def test_the_layout_keeps_two_parties_side_by_side_and_puts_more_in_a_grid():
    both = (640, 240, {compose.LEFT: (0, 0), compose.RIGHT: (320, 0)})
    assert compose.layout([compose.LEFT, compose.RIGHT]) == both
    # Two parties keep their halves whoever is there: nothing to re-lay.
    assert compose.layout([compose.LEFT, compose.RIGHT], present=[compose.RIGHT]) == both
    three = [compose.LEFT, compose.RIGHT, compose.THIRD]
    width, height, places = compose.layout(three)
    assert (width, height) == (640, 480)
    assert places == {compose.LEFT: (0, 0), compose.RIGHT: (320, 0), compose.THIRD: (160, 240)}
    # Re-laid with whoever is there, in the order detainee, then relatives by leg.
    assert compose.layout(three, present=[compose.THIRD, compose.LEFT])[2] == {
        compose.LEFT: (0, 120),
        compose.THIRD: (320, 120),
    }
    assert compose.layout(three, present=[compose.RIGHT])[2] == {compose.RIGHT: (160, 120)}
    assert compose.layout(three, present=[])[2] == {}
    _w, _h, places = compose.layout([*three, compose.FOURTH])
    assert [places[s] for s in compose.SIDES] == [(0, 0), (320, 0), (0, 240), (320, 240)]


def _track(side: str, kind: str, offset: float, seconds: float) -> compose.Track:
    source = compose.Source(Path(f"{side}.mjr"), 1, kind, duration=seconds, side=side)
    return compose.Track(source, Path(f"{side}.{kind}"), offset)


def test_a_party_is_present_while_any_of_its_streams_runs_short_gaps_merged():
    L, R, T = compose.LEFT, compose.RIGHT, compose.THIRD
    tracks = [
        # The detainee's voice starts before their picture (first keyframe).
        _track(L, "audio", 0.0, 9.0),
        _track(L, "video", 0.4, 8.6),
        # A relative reconnects: two publications, 0.6 s apart (one place kept), then
        # away for 3 s.
        _track(R, "audio", 1.0, 2.0),
        _track(R, "video", 1.2, 1.8),
        _track(R, "video", 3.6, 1.4),
        _track(R, "audio", 3.6, 1.4),
        _track(R, "audio", 8.0, 1.0),
        # A second relative with a camera only, who came and went.
        _track(T, "video", 2.0, 2.0),
    ]
    spans = compose.presence(tracks)
    assert spans == {L: [(0.0, 9.0)], R: [(1.0, 5.0), (8.0, 9.0)], T: [(2.0, 4.0)]}
    assert list(spans) == [L, R, T]  # in the layout's order
    assert compose.presence(tracks, gap=0.5)[R] == [(1.0, 3.0), (3.6, 5.0), (8.0, 9.0)]

    assert compose.segments(spans, 9.0 + 1 / 15) == [
        compose.Segment(0.0, 1.0, (L,)),
        compose.Segment(1.0, 2.0, (L, R)),
        compose.Segment(2.0, 4.0, (L, R, T)),
        compose.Segment(4.0, 5.0, (L, R)),
        compose.Segment(5.0, 8.0, (L,)),
        # Nobody in the last frame (the streams stopped): the last layout goes on.
        compose.Segment(8.0, 9.0 + 1 / 15, (L, R)),
    ]


def test_a_layout_lasting_less_than_a_second_is_not_shown_but_nobody_loses_their_place():
    L, R, T = compose.LEFT, compose.RIGHT, compose.THIRD

    def timeline(spans):
        return [(s.start, s.end, s.sides) for s in compose.segments(spans, 10.1)]

    # The relative 0.3 s after the detainee; at the end, the streams stop a few
    # hundredths apart: no picture for those moments.
    spans = {L: [(0.0, 9.9)], R: [(0.3, 9.95)], T: [(4.0, 10.0)]}
    assert timeline(spans) == [(0.0, 4.0, (L, R)), (4.0, 10.1, (L, R, T))]
    # One leaves, another comes 0.3 s later: the newcomer's tile is laid when the first
    # one leaves.
    spans = {L: [(0.0, 10.0)], R: [(0.0, 5.0)], T: [(5.3, 10.0)]}
    assert timeline(spans) == [(0.0, 5.0, (L, R)), (5.0, 10.1, (L, T))]
    # One comes 0.2 s before the other leaves: all three for that moment, since no
    # layout of two has a place for everyone there.
    spans = {L: [(0.0, 10.0)], R: [(0.0, 5.0)], T: [(4.8, 10.0)]}
    assert timeline(spans) == [
        (0.0, 4.8, (L, R)),
        (4.8, 5.0, (L, R, T)),
        (5.0, 10.1, (L, T)),
    ]


def test_nobody_there_is_a_segment_of_its_own():
    spans = {compose.LEFT: [(0.0, 2.0), (5.0, 6.0)], compose.RIGHT: [(0.5, 2.0)]}
    assert [(s.start, s.end, s.sides) for s in compose.segments(spans, 6.0)] == [
        (0.0, 2.0, (compose.LEFT, compose.RIGHT)),
        (2.0, 5.0, ()),  # all black
        (5.0, 6.0, (compose.LEFT,)),
    ]


@pytest.mark.parametrize(
    "sides", [(compose.LEFT, compose.RIGHT), (compose.LEFT, compose.RIGHT, compose.THIRD)]
)
def test_every_party_has_its_tile_and_its_voice(tmp_path, sides):
    tracks = _tracks(tmp_path, sides)
    work = tmp_path / "work"
    work.mkdir()
    composed = compose.compose(tracks, work, tmp_path / "out.webm", compose.Runner())
    assert (composed.video, composed.audio) == ("composed", "mixed")
    assert abs(composed.duration - SECONDS) < 0.3
    width, height, places = compose.layout(sides)
    info = compose.probe(composed.path)
    [video] = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert (video["width"], video["height"]) == (width, height)
    frame = _frame(composed.path, width, height)
    for side in sides:
        seen = _tile(frame, *places[side])
        assert np.abs(seen - COLOURS[side][1]).max() < 60, (side, seen)
    if len(sides) == 3:
        # The third party centred below the two others; on each side of it, black.
        assert frame[250:, :150].max() < 30 and frame[250:, 490:].max() < 30
    # Every tone is in the mix.
    samples = _samples(composed.path)
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    floor = np.median(spectrum)
    for side in sides:
        near = spectrum[np.abs(freqs - TONES[side]) < 5]
        assert near.max() > 50 * floor, side


@pytest.mark.django_db
def test_each_relative_leg_has_its_own_side_and_must_be_heard():
    from django.utils import timezone

    from calls import actions
    from calls.models import CallRelative, Participant
    from calls.tests.helpers import ready_call, start
    from recordings import jobs
    from tests.factories import ContactFactory

    call = start(ready_call())
    second = CallRelative.objects.create(
        call=call, contact=ContactFactory(detainee=call.detainee), position=1
    )
    kiosk, _token = actions.do_join(call, Participant.Role.KIOSK)
    first, _token = actions.do_join(call, Participant.Role.RELATIVE)
    # Written directly, and gone: the call layer does not yet let a second relative in
    # (one live relative page per call), but the recording keeps whoever published.
    other = Participant.objects.create(
        call=call, role="relative", relative=second, left_at=timezone.now()
    )
    for participant, feed in ((kiosk, 11), (first, 22), (other, 33)):
        actions.do_note_published(participant, feed)
    sources = [
        compose.Source(path=Path(f"{feed}.mjr"), feed=feed, kind="audio", duration=1.0)
        for feed in (11, 22, 33)
    ]
    assert jobs._sides(call, sources) == {11: compose.LEFT, 22: compose.RIGHT, 33: compose.THIRD}
    assert jobs._published_sides(call) == {compose.LEFT, compose.RIGHT, compose.THIRD}


def _frames(path: Path) -> tuple[np.ndarray, list[float]]:
    """Every picture of ``path`` at a quarter of its size (RGB), and its time."""
    times = [
        float(line)
        for line in subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
             "frame=best_effort_timestamp_time", "-of", "csv=p=0", str(path)],
            check=True, capture_output=True, text=True,
        ).stdout.split()
    ]  # fmt: skip
    raw = subprocess.run(
        [*compose.FFMPEG, "-i", str(path), "-fps_mode", "passthrough",
         "-vf", "scale=160:120:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 120, 160, 3)
    assert len(frames) == len(times)
    return frames, times


def _shows(frame: np.ndarray, side: str, x: int, y: int) -> bool:
    """Whether the middle of the tile at (x, y) (full-size coordinates) is ``side``'s colour."""
    tile = frame[(y + 60) // 4 : (y + 180) // 4, (x + 80) // 4 : (x + 240) // 4]
    return bool(np.abs(tile.reshape(-1, 3).mean(0) - COLOURS[side][1]).max() < 60)


def _black(frame: np.ndarray, x: int, y: int, w: int, h: int) -> bool:
    return bool(frame[y // 4 : (y + h) // 4, x // 4 : (x + w) // 4].max() < 30)


def test_the_grid_is_re_laid_when_a_party_arrives_or_leaves_in_sync(tmp_path):
    """The detainee all along; the relative reconnects once (0.3 s away: no re-lay) and
    leaves at 5.5 s; the second relative is there from 2 s to 4 s."""
    L, R, T = compose.LEFT, compose.RIGHT, compose.THIRD
    spans = {L: [(0.0, 6.5)], R: [(0.0, 2.5), (2.8, 2.7)], T: [(2.0, 2.0)]}
    tracks = _tracks(tmp_path, (L, R, T), spans)
    work = tmp_path / "work"
    work.mkdir()
    composed = compose.compose(tracks, work, tmp_path / "out.webm", compose.Runner())
    assert (composed.video, composed.audio) == ("composed", "mixed")
    assert [(s["start"], s["sides"]) for s in composed.layout] == [
        (0.0, [L, R]),
        (2.0, [L, R, T]),
        (4.0, [L, R]),
        (5.5, [L]),
    ]
    frames, times = _frames(composed.path)
    assert frames.shape[1:3] == (120, 160)  # 640x480 all along

    def at(t: float) -> np.ndarray:
        return frames[min(range(len(times)), key=lambda i: abs(times[i] - t))]

    # Two parties: side by side in the middle band, nothing above or below (no 2x2 hole).
    for t in (1.0, 4.75):
        frame = at(t)
        assert _shows(frame, L, 0, 120) and _shows(frame, R, 320, 120), t
        assert _black(frame, 0, 0, 640, 110) and _black(frame, 0, 370, 640, 110), t
    # Three: two above, the second relative centred below, black on each side of it.
    for t in (2.65, 3.5):  # 2.65: the relative between two publications, kept in place
        frame = at(t)
        assert _shows(frame, L, 0, 0) and _shows(frame, T, 160, 240), t
        assert _black(frame, 0, 250, 150, 230) and _black(frame, 490, 250, 150, 230), t
    assert _shows(at(3.5), R, 320, 0)
    assert _black(at(2.65), 330, 10, 300, 220)  # away: a black tile
    # The detainee alone: centred.
    frame = at(6.0)
    assert _shows(frame, L, 160, 120)
    assert _black(frame, 0, 0, 150, 480) and _black(frame, 490, 0, 150, 480)

    # In sync: each change within 0.3 s of the streams' own times.
    arrived = next(t for f, t in zip(frames, times, strict=True) if _shows(f, T, 160, 240))
    assert arrived == pytest.approx(2.0, abs=0.3)
    gone = next(
        t for f, t in zip(frames, times, strict=True) if t > arrived and _shows(f, L, 0, 120)
    )
    assert gone == pytest.approx(4.0, abs=0.3)
    alone = next(t for f, t in zip(frames, times, strict=True) if _shows(f, L, 160, 120))
    assert alone == pytest.approx(5.5, abs=0.3)
    # The second relative's voice too: heard from 2 s to 4 s only.
    samples = _samples(composed.path)
    heard = []
    for start in np.arange(0.0, 6.4, 0.1):
        window = samples[int(start * 8000) : int((start + 0.1) * 8000)]
        spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
        freqs = np.fft.rfftfreq(len(window), 1 / 8000)
        # Beside the detainee's tone, heard all along at the same loudness.
        level = spectrum[np.abs(freqs - TONES[T]) < 15].max()
        heard.append(level > 0.2 * spectrum[np.abs(freqs - TONES[L]) < 15].max())
    onset = 0.1 * heard.index(True)
    end = 0.1 * (len(heard) - heard[::-1].index(True))
    assert onset == pytest.approx(2.0, abs=0.3) and end == pytest.approx(4.0, abs=0.3)
