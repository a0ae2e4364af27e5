"""bench/bench_participants.py's measuring functions (the benchmark itself needs Janus and
takes minutes: it is run by hand, its results are in docs/performance.md)."""

import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from bench import bench_participants as bp


def test_stat_ticks_skips_a_command_name_holding_spaces_and_brackets():
    fields = ["S"] + [str(i) for i in range(4, 53)]  # field 3 onwards; 14 and 15 are 14, 15
    assert bp.stat_ticks("1234 (janus) (x y) " + " ".join(fields)) == 14 + 15


def test_cpu_over_sees_a_busy_thread_in_both_counters():
    # A process of its own: in pytest's, threads left by earlier tests start and end
    # during the window, which the two counters see differently.
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # noqa: S603
    try:
        sample = bp.cpu_over(spinner.pid, 0.5)
    finally:
        spinner.kill()
        spinner.wait()
    # The spinning thread has one core for itself at most: about 0.5 s.
    assert 0.1 < sample.schedstat < 0.6 + 0.05
    assert sample.stat == pytest.approx(sample.schedstat, abs=0.05)
    assert sample.percent == pytest.approx(100 * sample.schedstat / sample.seconds)


def test_proc_stat_counts_this_process_cpu():
    before = bp.proc_stat_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    assert bp.proc_stat_cpu_seconds(os.getpid()) - before >= 0.08


def test_cpu_per_call_and_participant_and_the_ratio():
    idle = bp.CpuSample(10, 0.05, 0.05)  # 0.5 % of a core
    loaded = bp.CpuSample(20, 1.3, 1.3)  # 6.5 %
    rnd = bp.Round(4, "mesh", 3, idle, loaded, idle, 0.0, [], [], [], 15.0, 0.0)
    assert rnd.per_call == pytest.approx(2.0)
    assert rnd.per_participant == pytest.approx(0.5)
    assert bp.ratio({2: 1.0, 4: 2.4}) == pytest.approx(2.4)
    assert bp.ratio({2: 1.0}) is None


def test_video_streams_forwarded():
    assert [bp.video_streams(n, "mesh") for n in (2, 3, 4)] == [2, 6, 12]
    assert [bp.video_streams(n, "detainee-video") for n in (2, 3, 4)] == [2, 4, 6]
    assert bp.wanted(1, 2, "detainee-video") == ("audio",)
    assert bp.wanted(1, 0, "detainee-video") == ("audio", "video")
    assert bp.wanted(0, 2, "detainee-video") == ("audio", "video")


def test_fit_recovers_the_cost_of_a_participant_and_of_a_stream():
    points = [
        (n, bp.video_streams(n, layout), 0.6 * n + 0.07 * bp.video_streams(n, layout))
        for layout in bp.LAYOUTS
        for n in (2, 3, 4)
    ]
    a, b = bp.fit(points)
    assert (a, b) == (pytest.approx(0.6), pytest.approx(0.07))
    assert bp.fit([(2, 2, 1.0), (4, 4, 2.0)]) is None  # streams proportional to people


def test_join_to_frame_starts_at_the_receiving_participants_offer():
    def participant(offer_sent_at):
        return SimpleNamespace(publisher=SimpleNamespace(offer_sent_at=offer_sent_at))

    kiosk, relative = participant(10.0), participant(10.2)
    probe = SimpleNamespace(first_frame=10.5)
    call = SimpleNamespace(video=lambda: [(kiosk, probe), (relative, probe)])
    assert bp.join_to_frame([call]) == [pytest.approx(0.5), pytest.approx(0.3)]


def test_loop_cpu_seconds_sums_janus_media_threads_by_name():
    stop, named = threading.Event(), threading.Event()

    def spin():
        # Janus names its media threads so; a thread may rename itself through /proc.
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:
            comm.write("hloop 1")
        named.set()
        while not stop.is_set():
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        named.wait(5)
        before = bp.loop_cpu_seconds(os.getpid())
        time.sleep(0.3)
        after = bp.loop_cpu_seconds(os.getpid())
    finally:
        stop.set()
        worker.join()
    assert set(after) == {"hloop 1", "other"}
    assert after["hloop 1"] - before["hloop 1"] > 0.05


def test_side_by_side_ratio_is_of_the_same_round():
    rounds = [
        bp.SideBySide(
            [("mesh", 2), ("mesh", 4), ("detainee-video", 4)],
            2,
            {("mesh", 2): small, ("mesh", 4): 2.4 * small, ("detainee-video", 4): 2 * small},
            0.0,
            40.0,
            3.0,
        )
        for small in (1.0, 1.5, 2.0)
    ]
    assert bp.side_ratio(rounds[1], "mesh") == "2.40"
    assert bp.side_ratio(rounds[1], "detainee-video") == "2.00"
    verdict = bp.side_by_side_verdict(rounds)
    assert "**2.40**" in verdict[0] and "**met**" in verdict[0]
    assert "| 3 | 2.00 % | 4.80 % | 4.00 % |" in bp.side_by_side_table(rounds)


def test_mesh_capped_caps_relatives_only_in_calls_of_several():
    assert [bp.video_streams(n, "mesh-capped") for n in (2, 3, 4)] == [2, 6, 12]
    assert bp.wanted(1, 2, "mesh-capped") == ("audio", "video")
    assert not bp.capped(1, 2, "mesh-capped")  # one relative: parloir does not cap
    assert not bp.capped(0, 4, "mesh-capped")  # the kiosk keeps the room's rate
    assert bp.capped(1, 3, "mesh-capped") and bp.capped(3, 4, "mesh-capped")
    assert not bp.capped(1, 4, "mesh")
    full, small = object(), object()
    clips = bp.Clips(full, small, 256_000)
    assert clips.of(0, 4, "mesh-capped") == (full, None)
    assert clips.of(2, 4, "mesh-capped") == (small, 256_000)
    assert clips.of(1, 2, "mesh-capped") == (full, None)


def test_a_capped_relatives_clip_is_a_little_under_the_cap():
    assert bp.capped_kbps(256_000) == 241 and bp.capped_kbps(128_000) == 120


def test_the_cap_is_parloirs_setting(tmp_path, monkeypatch):
    # The function sets these when unset: leave the environment as it was afterwards.
    for key, default in (
        ("PARLOIR_VAR_DIR", str(tmp_path)),
        ("DJANGO_SETTINGS_MODULE", "parloir.test_settings"),
    ):
        monkeypatch.setenv(key, os.environ.get(key, default))
    assert bp.group_relative_video_bitrate(tmp_path) == 128_000  # the setting's default


def test_received_kbps_by_kind_of_sender_over_the_window():
    def probe(sender, bitrate, payload_bytes, kind="video"):
        publisher = SimpleNamespace(name=sender, bitrate=bitrate)
        return SimpleNamespace(kind=kind, publisher=publisher, payload_bytes=payload_bytes)

    probes = [
        probe("kiosk", None, 1_100_000),
        probe("relative1", 256_000, 600_000),
        probe("relative2", 256_000, 500_000),
        probe("relative1", 256_000, 9_999_999, kind="audio"),
    ]
    before = {id(p): 100_000 for p in probes}
    # 1 000 000 bytes over 20 s: 400 kbit/s; the relatives' median of 500 and 400 kB.
    assert bp.received_kbps(probes, before, 20) == {
        "kiosk": pytest.approx(400),
        "capped relative": pytest.approx(180),
    }


def test_check_caps_wants_capped_relatives_at_the_setting_and_others_at_the_rooms():
    clips = bp.Clips(None, None, 256_000)
    bp.check_caps({"kiosk": [512_000], "capped relative": [256_000]}, clips)
    bp.check_caps({"kiosk": [512_000], "relative": [512_000]}, clips)
    with pytest.raises(RuntimeError, match="capped relatives"):
        bp.check_caps({"kiosk": [512_000], "capped relative": [512_000]}, clips)
    with pytest.raises(RuntimeError, match="kiosks"):
        bp.check_caps({"kiosk": [256_000, 512_000]}, clips)
