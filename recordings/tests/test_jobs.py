"""The job queue: which calls get a recording, claims and leases, retries, and flags.

The processing of real Janus files is in test_real_calls.py; here the sources are absent
or broken, which is enough to see every path of the state machine.
"""

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from audit.models import AuditEvent
from calls.models import Call
from calls.tests.helpers import ready_call, start
from recordings import jobs, worker
from recordings import sources as room_files
from recordings.models import Recording
from recordings.tests import helpers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rec_settings")]

S = Recording.State
ROOM = 4242


@pytest.fixture(autouse=True)
def _clock(time_machine):
    # Moves only when a test shifts it.
    time_machine.move_to(timezone.now(), tick=True)


def _ended_call(node, room: int = ROOM, **kwargs) -> Call:
    return helpers.end_call(helpers.live_call(node, room, **kwargs))


def test_only_recorded_calls_that_are_over_and_released_get_a_recording(node):
    live = helpers.live_call(node, ROOM)
    done = _ended_call(node, ROOM + 1)
    not_released = helpers.live_call(node, ROOM + 2)
    helpers.end_call(not_released)
    Call.objects.filter(pk=not_released.pk).update(media_released_at=None)

    assert jobs.enqueue() == [Recording.objects.get(call=done).pk]
    assert jobs.enqueue() == []
    assert not Recording.objects.filter(call__in=[live, not_released]).exists()
    recording = Recording.objects.get(call=done)
    assert recording.state == S.PENDING and recording.retention_days == 90
    done.refresh_from_db()
    assert recording.retention_until == done.ended_at + timedelta(days=90)
    with pytest.raises(IntegrityError):
        Recording.objects.create(call=done, retention_days=1, retention_until=timezone.now())


def test_lawyer_calls_stay_unrecorded(node):
    call = start(ready_call())
    Call.objects.filter(pk=call.pk).update(recorded=False)
    call.refresh_from_db()
    call = helpers.end_call(call)
    Call.objects.filter(pk=call.pk).update(media_node=node, janus_room=ROOM)

    assert worker.tick(retention_now=True)["enqueued"] == 0
    assert not Recording.objects.exists()


def test_one_claim_wins_and_a_live_lease_is_respected(node, settings):
    _ended_call(node)
    jobs.enqueue()
    first = jobs.claim()
    assert first is not None and first.resumed_from == ""
    assert jobs.claim() is None  # held by this live process

    recording = Recording.objects.get(pk=first.pk)
    assert recording.state == S.PROCESSING and recording.claimed_by == jobs.worker_id()
    assert recording.claimed_until > timezone.now()


def test_a_job_left_by_a_dead_worker_elsewhere_is_resumed_when_its_lease_expires(
    node, time_machine
):
    _ended_call(node)
    jobs.enqueue()
    job = jobs.claim()
    Recording.objects.filter(pk=job.pk).update(claimed_by="other-host:1234")
    assert jobs.claim() is None

    time_machine.shift(timedelta(seconds=301))
    resumed = jobs.claim()

    assert resumed is not None and resumed.pk == job.pk and resumed.token != job.token
    assert resumed.resumed_from == "other-host:1234"
    assert Recording.objects.get(pk=job.pk).attempts == 2
    # The dead worker, had it come back, would find its lease gone.
    with pytest.raises(jobs.LeaseLost):
        jobs.Lease(job).renew()


def test_a_job_is_claimed_only_once_janus_has_closed_its_files(node, settings, time_machine):
    settings.RECORDINGS_SETTLE_SECONDS = 5
    call = _ended_call(node)
    folder = room_files.folders(call)[0]
    folder.mkdir(parents=True)
    (folder / f"videoroom-{ROOM}-user-1-2-audio-0.mjr").write_bytes(b"MJR00002")
    jobs.enqueue()
    assert jobs.claim() is None  # the room was released less than 5 s ago

    time_machine.shift(timedelta(seconds=6))
    assert jobs.claim() is not None


def test_a_call_without_any_file_is_flagged_not_skipped(node):
    call = _ended_call(node)

    worker.tick()

    recording = Recording.objects.get(call=call)
    assert recording.state == S.FAILED and recording.flagged
    assert recording.problem == Recording.Problem.MISSING_FILES
    assert str(room_files.folders(call)[0]) in recording.problem_detail
    assert AuditEvent.objects.filter(action="recording.flagged", target_id=str(recording.pk))


def test_a_call_that_never_went_live_and_left_no_file_has_nothing_to_record(node):
    call = start(ready_call())
    Call.objects.filter(pk=call.pk).update(media_node=node, janus_room=ROOM)
    call = helpers.end_call(Call.objects.get(pk=call.pk), Call.EndReason.NO_ANSWER)

    worker.tick()

    recording = Recording.objects.get(call=call)
    assert recording.state == S.EMPTY and not recording.flagged
    assert recording.sources_deleted_at is not None


def test_unreadable_files_only_are_flagged_as_corrupt(node, time_machine):
    call = _ended_call(node, feeds={"kiosk": 11, "relative": 22})
    folder = room_files.folders(call)[0]
    folder.mkdir(parents=True)
    (folder / f"videoroom-{ROOM}-user-11-1-audio-0.mjr").write_bytes(b"garbage")
    (folder / f"videoroom-{ROOM}-user-22-1-video-1.mjr").write_bytes(b"")
    # The worker compares the files' real modification times with the travelling clock,
    # which runs a little behind the real one (by however long the fixture took to start it).
    time_machine.shift(timedelta(seconds=1))

    worker.tick()

    recording = Recording.objects.get(call=call)
    assert recording.state == S.FAILED and recording.problem == Recording.Problem.CORRUPT_FILES
    assert [u["file"] for u in recording.details["unusable"]] == [
        f"videoroom-{ROOM}-user-11-1-audio-0.mjr",
        f"videoroom-{ROOM}-user-22-1-video-1.mjr",
    ]
    # Kept for whoever looks into it (they are destroyed with the recording).
    assert len(list(folder.iterdir())) == 2


def test_errors_are_retried_then_flagged(node, settings, tmp_path, time_machine):
    call = _ended_call(node)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.RECORDINGS_WORK_DIR = blocker / "work"

    for attempt in (1, 2, 3):
        worker.tick()
        recording = Recording.objects.get(call=call)
        assert recording.attempts == attempt
        if attempt < 3:
            assert recording.state == S.PENDING and "NotADirectoryError" in recording.last_error
            assert jobs.claim() is None  # backing off
            time_machine.shift(timedelta(seconds=30 * attempt + 1))

    assert recording.state == S.FAILED and recording.flagged
    assert recording.problem == Recording.Problem.PROCESSING_ERROR

    settings.RECORDINGS_WORK_DIR = tmp_path / "work"
    assert jobs.retry(recording)
    worker.tick()
    recording.refresh_from_db()
    assert recording.state == S.FAILED and recording.problem == Recording.Problem.MISSING_FILES


def test_without_a_master_key_nothing_is_processed_and_nothing_is_lost(node, settings, caplog):
    call = _ended_call(node)
    settings.RECORDING_MASTER_KEY = None

    worker.tick()
    worker.tick()

    recording = Recording.objects.get(call=call)
    assert recording.state == S.PENDING and recording.attempts == 0
    assert sum("PARLOIR_RECORDING_MASTER_KEY" in r.message for r in caplog.records) == 1
