"""Recordings of real calls through Janus: what staff replay is what was said and shown.

Each call here went through a real Janus (in a private network namespace) between two
aiortc peers sending a test pattern and a tone: 440 Hz for the detainee's kiosk, 880 Hz
for the relative, who joins 1.5 s after the kiosk. The recording is then made by the
worker's own code and checked by decoding it.
"""

import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from audit.models import AuditEvent
from calls import actions
from calls.models import Call
from recordings import compose, keys, worker
from recordings import sources as room_files
from recordings.models import Recording
from recordings.tests import helpers
from recordings.tests.helpers import KIOSK_HZ, RELATIVE_HZ

pytestmark = [pytest.mark.media, pytest.mark.usefixtures("rec_settings")]

ROOT = Path(__file__).resolve().parents[2]
# How far a tone stands above the spectrum's median: about 10^6 when it is there; when it
# is not, a few hundred of codec leakage, and up to a few thousand at 880 Hz, the second
# harmonic of the kiosk's 440 Hz tone (seen: 2,532 beside 2.7 x 10^6).
HEARD, SILENT = 20_000, 10_000


def _recorded_call(node, run: helpers.CallRun, **end) -> Call:
    call = helpers.live_call(node, run.room_id, feeds=run.feeds)
    helpers.place_sources(run.folder, call, run.room_id)
    return helpers.end_call(call, **end)


def _first_packets(run: helpers.CallRun) -> dict[tuple[int, str], float]:
    """Seconds from the room's first packet to each stream's, as Janus wrote them."""
    sources = [
        compose.read_header(compose.Source.from_name(path))
        for path in compose.find_sources(run.folder, run.room_id)
    ]
    base = min(source.first_packet_us for source in sources)
    return {(s.feed, s.kind): (s.first_packet_us - base) / 1e6 for s in sources}


def _plaintext(recording: Recording, tmp_path: Path) -> Path:
    out = tmp_path / f"replay-{recording.pk}.webm"
    with keys.open_plaintext(recording) as media, out.open("wb") as f:
        for data in media:
            f.write(data)
    return out


def test_a_call_becomes_one_playable_recording_with_both_parties_in_sync(
    db, node, real_call, tmp_path
):
    janus_offsets = _first_packets(real_call)
    call = _recorded_call(node, real_call)
    source_dir = room_files.folders(call)[0]

    counts = worker.tick()

    assert counts["enqueued"] == 1 and counts["processed"] == 1
    recording = Recording.objects.get(call=call)
    assert recording.state == Recording.State.READY, recording.problem_detail
    assert not recording.flagged and recording.problem == ""
    assert (recording.details["video"], recording.details["audio"]) == ("composed", "mixed")
    assert recording.details["sides"] == {"left": "kiosk", "right": "relative"}

    media = _plaintext(recording, tmp_path)
    assert helpers.decode_errors(media) == ""
    info = compose.probe(media)
    kinds = {s["codec_type"]: s for s in info["streams"]}
    assert kinds["video"]["codec_name"] == "vp8" and kinds["audio"]["codec_name"] == "opus"
    assert (int(kinds["video"]["width"]), int(kinds["video"]["height"])) == (640, 240)
    # From the kiosk's first packet to the room's end.
    assert recording.duration_seconds == pytest.approx(real_call.ended, abs=0.6)

    # Before the relative joined: the kiosk's voice and picture only.
    early = helpers.tone_levels(media, 0.2)
    assert early[KIOSK_HZ] > HEARD and early[RELATIVE_HZ] < SILENT, early
    left, right = helpers.tile_brightness(media, 0.5)
    assert left > 40 and right < 5, (left, right)
    # Together: both voices heard, both pictures shown, the relative's in its place.
    for at in (real_call.relative_up + 1.0, real_call.ended - 1.0):
        both = helpers.tone_levels(media, at)
        assert both[KIOSK_HZ] > HEARD and both[RELATIVE_HZ] > HEARD, (at, both)
    left, right = helpers.tile_brightness(media, real_call.relative_up + 1.5)
    assert left > 40 and right > 40, (left, right)
    # In sync: the relative's voice and picture start where Janus received them, within
    # 0.3 s. Janus's own first-packet times are the reference: the client's clock of when
    # the relative was up drifts by a few tenths on a loaded machine (seen: 0.34 s).
    onset = next(
        t / 10
        for t in range(0, int(real_call.ended * 10))
        if helpers.tone_levels(media, t / 10, 0.1)[RELATIVE_HZ] > HEARD / 4
    )
    assert onset == pytest.approx(janus_offsets[real_call.feeds["relative"], "audio"], abs=0.3)
    seen = next(
        t / 10
        for t in range(int(onset * 10) - 5, int(real_call.ended * 10))
        if helpers.tile_brightness(media, t / 10)[1] > 40
    )
    assert seen == pytest.approx(janus_offsets[real_call.feeds["relative"], "video"], abs=0.3)

    # The raw Janus files are gone once the encrypted file was verified.
    assert recording.sources_deleted_at is not None and not source_dir.exists()
    stored = settings.RECORDINGS_DIR / recording.file_name
    assert b"webm" not in stored.read_bytes()[:4096].lower()
    assert AuditEvent.objects.filter(action="recording.processed", target_id=str(recording.pk))


def test_a_call_of_three_is_one_grid_with_everyone_in_sync(
    db, rec_runner, own_janus, node, tmp_path
):
    """Issue #19: the detainee and two relatives, the second arriving later. Every party
    present has a tile and a voice: the picture shows the two first side by side until the
    second relative arrives, then is re-laid for three; their voice and picture start
    where Janus received them, within 0.3 s."""
    run = rec_runner.run(
        helpers.run_call(own_janus, "three", together=3.0, second_relative_after=1.5),
        timeout=90,
    )
    janus_offsets = _first_packets(run)
    call = helpers.live_call(node, run.room_id, feeds=run.feeds, relatives=2)
    helpers.place_sources(run.folder, call, run.room_id)
    call = helpers.end_call(call)

    worker.tick()

    recording = Recording.objects.get(call=call)
    assert recording.state == Recording.State.READY, recording.problem_detail
    assert recording.details["sides"] == {
        "left": "kiosk",
        "right": "relative",
        "third": "relative 2",
    }
    media = _plaintext(recording, tmp_path)
    assert helpers.decode_errors(media) == ""
    video = next(s for s in compose.probe(media)["streams"] if s["codec_type"] == "video")
    assert (int(video["width"]), int(video["height"])) == (640, 480)
    first = janus_offsets[run.feeds["relative"], "video"]
    second = min(janus_offsets[run.feeds["relative1"], kind] for kind in ("audio", "video"))
    # The layout changes where Janus's streams begin: the kiosk and the first relative
    # (the kiosk alone before, if that lasted a second), then the second relative too.
    layout = recording.details["layout"]
    assert [segment["sides"] for segment in layout[-2:]] == [
        ["left", "right"],
        ["left", "right", "third"],
    ], layout
    assert layout[-1]["start"] == pytest.approx(second, abs=0.01)
    # Tiles of 320x240 (the test pattern fills their middle rows), and black bands.
    above, below = (0, 0, 640, 110), (0, 370, 640, 110)
    middle_left, middle_right = (40, 160, 240, 160), (360, 160, 240, 160)
    top_left, top_right = (40, 40, 240, 160), (360, 40, 240, 160)
    # The lower half of the second relative's tile, centred below: black in the layout
    # of two (whose tiles end at y = 360).
    bottom = (200, 380, 240, 60)
    corners = [(0, 250, 150, 230), (490, 250, 150, 230)]
    # Before the second relative came: two side by side in the middle, their voice absent.
    assert second - first > 1.0, janus_offsets  # the relative's picture had time to show
    before_at = (first + second) / 2 + 0.2
    before = helpers.tone_levels(media, before_at - 0.25)
    assert before[helpers.SECOND_RELATIVE_HZ] < SILENT, before
    left, right, top, low = helpers.region_brightness(
        media, before_at, [middle_left, middle_right, above, below]
    )
    assert left > 40 and right > 40 and top < 5 and low < 5, (left, right, top, low)
    # Then everyone: three voices, three pictures (two above, one centred below).
    together = helpers.tone_levels(media, run.ended - 1.0)
    assert all(together[hz] > HEARD for hz in (KIOSK_HZ, RELATIVE_HZ, helpers.SECOND_RELATIVE_HZ))
    tiles = helpers.region_brightness(
        media, run.ended - 1.0, [top_left, top_right, bottom, *corners]
    )
    assert all(tile > 40 for tile in tiles[:3]) and all(c < 5 for c in tiles[3:]), tiles
    onset = next(
        t / 10
        for t in range(0, int(run.ended * 10))
        if helpers.tone_levels(media, t / 10, 0.1)[helpers.SECOND_RELATIVE_HZ] > HEARD / 4
    )
    assert onset == pytest.approx(janus_offsets[run.feeds["relative1"], "audio"], abs=0.3)
    seen = next(
        t / 10
        for t in range(int(onset * 10) - 5, int(run.ended * 10))
        if helpers.region_brightness(media, t / 10, [bottom])[0] > 40
    )
    assert seen == pytest.approx(janus_offsets[run.feeds["relative1"], "video"], abs=0.3)


def test_a_call_cut_by_a_media_node_crash_plays_up_to_the_crash(
    db, rec_runner, own_janus, node, tmp_path
):
    run = rec_runner.run(helpers.run_call(own_janus, "crash", together=3.0, crash=True), timeout=90)
    assert not own_janus.alive
    call = helpers.live_call(node, run.room_id, feeds=run.feeds)
    helpers.place_sources(run.folder, call, run.room_id)
    # What the health checker's node_down hook does (the call waits for a new room);
    # then no node came back before the call's end, and calls.worker released the room.
    assert actions.move_calls_off_node(node) == [call.pk]
    actions.do_end_call(call, Call.EndReason.MEDIA_FAILURE, by="worker")
    Call.objects.filter(pk=call.pk).update(media_released_at=call.created_at)

    worker.tick()

    recording = Recording.objects.get(call=call)
    assert recording.state == Recording.State.READY, recording.problem_detail
    assert recording.details["interrupted"] is True and not recording.flagged
    media = _plaintext(recording, tmp_path)
    assert helpers.decode_errors(media) == ""
    # Janus died without closing its files: what it had written is all there.
    assert recording.duration_seconds == pytest.approx(run.ended, abs=0.7)
    levels = helpers.tone_levels(media, run.ended - 1.2)
    assert levels[KIOSK_HZ] > HEARD and levels[RELATIVE_HZ] > HEARD, levels


def test_a_worker_killed_mid_processing_is_resumed(transactional_db, node, real_call, tmp_path):
    call = _recorded_call(node, real_call)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")},
        "DJANGO_SETTINGS_MODULE": "parloir.test_settings",
        "DATABASE_URL": _database_url(),
        "PARLOIR_VAR_DIR": str(tmp_path / "var"),
        "PARLOIR_RECORDINGS_DIR": str(settings.RECORDINGS_DIR),
        "PARLOIR_RECORDINGS_WORK_DIR": str(settings.RECORDINGS_WORK_DIR),
        "PARLOIR_RECORDING_MASTER_KEY": helpers.MASTER_KEY,
        "PARLOIR_RECORDINGS_SETTLE_SECONDS": "0",
        "PARLOIR_LOG_LEVEL": "INFO",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "recordings_worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    try:
        for line in process.stderr:
            seen.append(line)
            if "composing" in line:
                # ffmpeg is running: the job is half done.
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait(10)
    assert any("composing" in line for line in seen), "".join(seen)

    recording = Recording.objects.get(call=call)
    assert recording.state == Recording.State.PROCESSING
    assert recording.claimed_by.endswith(f":{process.pid}") and recording.attempts == 1
    assert compose.find_sources(room_files.folders(call)[0]), "sources kept until the end"

    # The restarted worker sees its host's dead claim and takes it back at once.
    worker.tick()

    recording.refresh_from_db()
    assert recording.state == Recording.State.READY and recording.attempts == 2
    assert helpers.decode_errors(_plaintext(recording, tmp_path)) == ""
    assert not (settings.RECORDINGS_WORK_DIR / str(recording.uuid)).exists()
    assert len(list((settings.RECORDINGS_DIR / "store").rglob("*"))) == 2  # one folder, one file


def test_corrupt_and_missing_files_are_flagged_and_the_rest_is_kept(db, node, real_call, tmp_path):
    call = _recorded_call(node, real_call)
    folder = room_files.folders(call)[0]
    relative = str(real_call.feeds["relative"])
    (video,) = [
        p for p in folder.iterdir() if relative in p.name and p.name.endswith("video-1.mjr")
    ]
    (audio,) = [
        p for p in folder.iterdir() if relative in p.name and p.name.endswith("audio-0.mjr")
    ]
    video.unlink()
    audio.write_bytes(audio.read_bytes()[:20])  # cut inside its header

    worker.tick()

    recording = Recording.objects.get(call=call)
    assert recording.state == Recording.State.READY and recording.flagged
    assert recording.problem == Recording.Problem.CORRUPT_FILES
    assert audio.name in recording.problem_detail
    # What could be read is kept: the kiosk, untouched (one stream each: copied, not re-encoded).
    assert (recording.details["video"], recording.details["audio"]) == ("copied", "copied")
    media = _plaintext(recording, tmp_path)
    assert helpers.decode_errors(media) == ""
    assert helpers.tone_levels(media, 3.0)[KIOSK_HZ] > HEARD
    event = AuditEvent.objects.get(action="recording.flagged", target_id=str(recording.pk))
    assert event.data["problem"] == "corrupt_files"


def _database_url() -> str:
    cfg = connection.settings_dict
    if connection.vendor == "postgresql":
        password = f":{cfg['PASSWORD']}" if cfg.get("PASSWORD") else ""
        # A unix-socket host (a path) must be quoted to fit in a URL.
        host = urllib.parse.quote(cfg.get("HOST") or "127.0.0.1", safe="")
        port = f":{cfg['PORT']}" if cfg.get("PORT") else ""
        return f"postgres://{cfg['USER']}{password}@{host}{port}/{cfg['NAME']}"
    return f"sqlite:///{cfg['NAME']}"
