"""Retention with a moved clock: destruction on time, holds stopping the clock, the
destruction log and its signed report, manual purges, master key rotation."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.log import verify
from audit.models import AuditEvent
from recordings import crypto, jobs, keys, retention, worker
from recordings import sources as room_files
from recordings.models import DestructionLog, Hold, Recording
from recordings.tests import helpers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rec_settings")]

S = Recording.State
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    # Before the recording fixture: the tests move the clock from the call's end.
    time_machine.move_to(timezone.now(), tick=False)


def _at(time_machine, recording, days: float):
    time_machine.move_to(recording.call.ended_at + timedelta(days=days), tick=False)


def test_it_is_destroyed_by_the_worker_when_its_retention_ends(recording, time_machine):
    stored = jobs.stored_path(recording)
    _at(time_machine, recording, 89.9)
    assert retention.purge(execute=True).destroyed == []

    _at(time_machine, recording, 90.01)
    counts = worker.tick(retention_now=True)

    assert counts["destroyed"] == 1
    recording.refresh_from_db()
    assert recording.state == S.DESTROYED and recording.wrapped_key is None
    assert not stored.exists() and recording.file_name == ""
    entry = DestructionLog.objects.get(recording=recording)
    assert (entry.reason, entry.sha256, entry.files_removed) == ("retention", recording.sha256, 1)
    assert entry.call_ended_at == recording.call.ended_at
    event = AuditEvent.objects.get(seq=entry.audit_seq)
    assert event.action == "recording.destroyed" and event.target_id == str(recording.pk)
    assert verify() is None
    # Nothing happens twice.
    assert retention.purge(execute=True).destroyed == []


def test_retention_follows_the_establishment_setting(recording, time_machine):
    establishment = recording.call.booking.room.quarter.establishment
    establishment.recording_retention_days = 30
    establishment.save()
    _at(time_machine, recording, 30.01)

    report = retention.purge(execute=True)

    assert [e.recording_id for e in report.destroyed] == [recording.pk]
    assert AuditEvent.objects.filter(action="recording.retention_changed").count() == 1


def test_a_dry_run_lists_what_a_lowered_retention_makes_due_and_changes_nothing(
    recording, time_machine
):
    establishment = recording.call.booking.room.quarter.establishment
    establishment.recording_retention_days = 30
    establishment.save()
    _at(time_machine, recording, 30.01)
    events_before = AuditEvent.objects.count()

    report = retention.purge(execute=False)

    assert [r.pk for r in report.due] == [recording.pk] and report.destroyed == []
    recording.refresh_from_db()
    assert (recording.state, recording.retention_days) == (S.READY, 90)
    assert AuditEvent.objects.count() == events_before


def test_a_hold_stops_the_clock_until_it_is_lifted(recording, time_machine, django_user_model):
    director = helpers_director(recording)
    _at(time_machine, recording, 10)
    hold = retention.place_hold(
        recording, Hold.Kind.DISCIPLINARY_APPEAL, "CD 2026-118", actor=director
    )

    _at(time_machine, recording, 400)
    assert retention.purge(execute=True).destroyed == []
    assert retention.lapse(Recording.objects.get(pk=recording.pk)) is None

    retention.lift_hold(hold, actor=director, reason="Recours rejeté")
    recording.refresh_from_db()
    # 80 days were left when the clock stopped; they are left again now.
    assert recording.held_seconds == 390 * 86400
    assert recording.retention_until == recording.call.ended_at + timedelta(days=480)
    _at(time_machine, recording, 479.9)
    assert retention.purge(execute=True).destroyed == []
    _at(time_machine, recording, 480.01)
    assert len(retention.purge(execute=True).destroyed) == 1
    actions = list(
        AuditEvent.objects.filter(target_id=str(recording.pk)).values_list("action", flat=True)
    )
    assert actions[-3:] == ["recording.hold_placed", "recording.hold_lifted", "recording.destroyed"]


def test_overlapping_holds_stop_the_clock_from_the_first_to_the_last(recording, time_machine):
    _at(time_machine, recording, 20)
    judicial = retention.place_hold(recording, Hold.Kind.JUDICIAL, "PV 123/2026")
    _at(time_machine, recording, 30)
    appeal = retention.place_hold(recording, Hold.Kind.DISCIPLINARY_APPEAL, "CD 7")
    _at(time_machine, recording, 50)
    retention.lift_hold(judicial, reason="Copie remise")
    assert Recording.objects.get(pk=recording.pk).held  # the appeal still holds it
    _at(time_machine, recording, 70)
    retention.lift_hold(appeal, reason="Décision définitive")

    recording.refresh_from_db()
    assert recording.held_seconds == 50 * 86400
    assert recording.retention_until == recording.call.ended_at + timedelta(days=140)


def test_a_hold_needs_a_reference_and_a_recording_that_still_exists(recording, time_machine):
    with pytest.raises(ValidationError):
        retention.place_hold(recording, Hold.Kind.JUDICIAL, "   ")
    _at(time_machine, recording, 91)
    retention.purge(execute=True)
    with pytest.raises(ValidationError):
        retention.place_hold(recording, Hold.Kind.JUDICIAL, "PV 1")


def test_the_destruction_log_cannot_be_changed(recording, time_machine):
    _at(time_machine, recording, 91)
    (entry,) = retention.purge(execute=True).destroyed
    entry.reason = "manual"
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        DestructionLog.objects.filter(pk=entry.pk).update(reason="manual")
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            DestructionLog.objects.filter(pk=entry.pk).delete()
    assert DestructionLog.objects.get(pk=entry.pk).reason == "retention"


def test_the_signed_report_verifies_and_any_change_is_caught(recording, time_machine, tmp_path):
    _at(time_machine, recording, 91)
    retention.purge(execute=True)
    out = tmp_path / "report.json"

    call_command("recordings_destruction_report", "--out", str(out))
    document = json.loads(out.read_text())

    assert document["report"]["count"] == 1
    assert document["report"]["entries"][0]["sha256"] == recording.sha256
    stdout = StringIO()
    call_command("recordings_verify_report", str(out), stdout=stdout)
    assert "Valid: 1 destruction(s)" in stdout.getvalue()
    assert retention.verify_report(document, crypto.public_key_b64())

    document["report"]["entries"][0]["call"] += 1
    out.write_text(json.dumps(document))
    with pytest.raises(CommandError, match="INVALID"):
        call_command("recordings_verify_report", str(out))
    # Signed again by someone else: its own key matches, but not the one we trust.
    document["report"]["entries"][0]["call"] -= 1
    forged = crypto._signing_key("z" * 40)
    document["signature"]["public_key"] = crypto.public_key_b64(forged)
    document["signature"]["value"] = crypto.sign(crypto.canonical_json(document["report"]), forged)
    assert retention.verify_report(document)
    assert not retention.verify_report(document, crypto.public_key_b64())


def test_the_purge_command_is_a_dry_run_unless_told(recording, time_machine):
    _at(time_machine, recording, 95)
    dry = StringIO()
    call_command("recordings_purge", stdout=dry)
    assert "1 recording(s) due. Dry run" in dry.getvalue()
    assert Recording.objects.get(pk=recording.pk).state == S.READY

    done = StringIO()
    call_command("recordings_purge", "--execute", stdout=done)
    assert "1 recording(s) destroyed" in done.getvalue()
    entry = DestructionLog.objects.get(recording=recording)
    assert entry.actor_label == "command:recordings_purge"


def test_a_failed_recording_takes_its_janus_files_with_it(node, time_machine):
    call = helpers.end_call(helpers.live_call(node, 778))
    folder = room_files.folders(call)[0]
    folder.mkdir(parents=True)
    (folder / "videoroom-778-user-1-1-audio-0.mjr").write_bytes(b"broken")
    # The worker compares the files' real modification times with the (frozen) clock.
    time_machine.shift(timedelta(seconds=1))
    worker.tick()
    assert Recording.objects.get(call=call).state == S.FAILED

    time_machine.move_to(call.ended_at + 91 * DAY, tick=False)
    (entry,) = retention.purge(execute=True).destroyed

    assert entry.state_before == S.FAILED and entry.files_removed == 1
    assert not folder.exists()


def test_files_left_by_a_crash_after_destruction_are_swept(recording, time_machine, sample_webm):
    stored = jobs.stored_path(recording)
    name = recording.file_name
    _at(time_machine, recording, 91)
    retention.purge(execute=True)
    # As if the process had died between the commit and the deletion.
    stored.write_bytes(sample_webm.read_bytes())
    Recording.objects.filter(pk=recording.pk).update(file_name=name)

    assert retention.sweep_destroyed() == 1
    assert not stored.exists()


def test_rotating_the_master_key_rewraps_keys_without_touching_media(recording, settings, tmp_path):
    stored = jobs.stored_path(recording)
    before = (crypto.sha256_file(stored), stored.stat().st_mtime_ns)
    old_id = recording.key_id
    settings.RECORDING_OLD_MASTER_KEYS = settings.RECORDING_MASTER_KEY
    settings.RECORDING_MASTER_KEY = "the-new-master-key-after-rotation-2027-xyz"

    out = StringIO()
    call_command("recordings_rotate_key", stdout=out)

    recording.refresh_from_db()
    assert recording.key_id == crypto.keyring().current.id != old_id
    assert f"1 key(s) re-wrapped from {old_id}" in out.getvalue()
    assert "No recording depends on a former master key" in out.getvalue()
    assert (crypto.sha256_file(stored), stored.stat().st_mtime_ns) == before
    settings.RECORDING_OLD_MASTER_KEYS = None
    with keys.open_plaintext(recording) as media:
        assert media.verify() == recording.plaintext_sha256
    assert AuditEvent.objects.filter(action="recording.keys_rotated").count() == 1


def test_rotation_reports_keys_under_a_master_key_nobody_configured(recording, settings):
    settings.RECORDING_MASTER_KEY = "the-new-master-key-after-rotation-2027-xyz"
    err = StringIO()
    call_command("recordings_rotate_key", stdout=StringIO(), stderr=err)
    assert "1 key(s) under" in err.getvalue()
    with pytest.raises(crypto.MissingMasterKey):
        keys.open_plaintext(Recording.objects.get(pk=recording.pk))


def helpers_director(recording):
    from tests.factories import staff_with_role

    return staff_with_role("director", recording.call.booking.room.quarter.establishment)
