"""A call of three or four parties is composed as a 2x2 grid (issue #19): every party's
picture in its own tile, every voice in the mix; two parties stay side by side.

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


def _tracks(tmp_path: Path, sides) -> list[compose.Track]:
    tracks = []
    for feed, side in enumerate(sides, start=1):
        colour, _rgb = COLOURS[side]
        video = tmp_path / f"{side}.webm"
        _ffmpeg(
            "-f", "lavfi", "-i", f"color=c={colour}:s=320x240:r=15:d={SECONDS}",
            "-c:v", "libvpx", "-b:v", "200k", str(video),
        )  # fmt: skip
        audio = tmp_path / f"{side}.opus"
        _ffmpeg(
            "-f", "lavfi", "-i", f"sine=frequency={TONES[side]}:duration={SECONDS}",
            "-c:a", "libopus", "-ar", "48000", str(audio),
        )  # fmt: skip
        for kind, path in (("video", video), ("audio", audio)):
            source = compose.Source(
                path=path, feed=feed, kind=kind, duration=SECONDS, side=side,
                first_packet_us=1_000_000_000,
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


def _tile(frame: np.ndarray, x: int, y: int) -> np.ndarray:
    # The middle of the tile: clear of the edges the encoder blurs.
    th, tw = compose.TILE_H, compose.TILE_W
    return (
        frame[y + th // 4 : y + 3 * th // 4, x + tw // 4 : x + 3 * tw // 4].reshape(-1, 3).mean(0)
    )


def test_the_layout_keeps_two_parties_side_by_side_and_puts_more_in_a_grid():
    assert compose.layout([compose.LEFT, compose.RIGHT]) == (
        640, 240, {compose.LEFT: (0, 0), compose.RIGHT: (320, 0)},
    )  # fmt: skip
    width, height, places = compose.layout([compose.LEFT, compose.RIGHT, compose.THIRD])
    assert (width, height) == (640, 480)
    assert [places[s] for s in compose.SIDES] == [(0, 0), (320, 0), (0, 240), (320, 240)]


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
        assert _tile(frame, *places[compose.FOURTH]).max() < 30  # nobody: black
    # Every tone is in the mix.
    pcm = subprocess.run(
        [*compose.FFMPEG, "-i", str(composed.path), "-vn", "-ac", "1", "-ar", "8000",
         "-f", "s16le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    samples = np.frombuffer(pcm, np.int16).astype(float)
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
