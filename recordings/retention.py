"""How long a recording is kept, what stops the clock, and how it is destroyed.

A recording is destroyed ``retention_days`` (the establishment's setting, 90 at most) after
the call ended, plus the time holds stopped the clock. A hold (sent to a judicial
authority, or a disciplinary appeal pending) stops it from the moment the first hold is
placed until the last one is lifted; the time left is then what it was.

Destruction is crypto-shredding first: one transaction marks the recording destroyed,
forgets its wrapped key, appends to the destruction log and to the audit chain; the files
(the encrypted recording, and any Janus files still there) are deleted right after, and a
later pass deletes whatever a crash left. Without its key the encrypted file is noise,
backups of it included.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from recordings import crypto, jobs
from recordings.events import audit
from recordings.models import CALL_ESTABLISHMENT, DestructionLog, Hold, Recording

log = logging.getLogger(__name__)

S = Recording.State
REPORT_FORMAT = "parloir-destruction-report/1"


def _lock(recording: Recording) -> Recording:
    # Only the recording's row: PostgreSQL cannot lock the nullable side of a join.
    return (
        Recording.objects.select_for_update(of=("self",))
        .select_related("call__booking__room__quarter", "call__media_node")
        .get(pk=recording.pk)
    )


# --- Holds ------------------------------------------------------------------------------


@transaction.atomic
def place_hold(recording: Recording, kind: str, reference: str, *, actor=None, note: str = ""):
    recording = _lock(recording)
    reference = reference.strip()
    if not reference:
        raise ValidationError(_("Une référence est obligatoire."), code="reference")
    if kind not in Hold.Kind.values:
        raise ValidationError(_("Motif inconnu."), code="kind")
    if recording.state in (S.DESTROYED, S.EMPTY):
        raise ValidationError(_("Cet enregistrement n'existe plus."), code="destroyed")
    now = timezone.now()
    hold = Hold.objects.create(
        recording=recording,
        kind=kind,
        reference=reference[:200],
        note=note,
        placed_by=actor,
        placed_at=now,
    )
    if recording.clock_stopped_at is None:
        recording.clock_stopped_at = now
        recording.save(update_fields=["clock_stopped_at"])
    audit(
        "recording.hold_placed",
        recording,
        actor=actor,
        label="command",
        data={"hold": hold.pk, "kind": kind, "reference": hold.reference},
    )
    return hold


@transaction.atomic
def lift_hold(hold: Hold, *, actor=None, reason: str = "") -> Hold:
    recording = _lock(hold.recording)
    hold = Hold.objects.select_for_update().get(pk=hold.pk)
    if hold.lifted_at is not None:
        return hold
    now = timezone.now()
    hold.lifted_at, hold.lifted_by, hold.lift_reason = now, actor, reason[:500]
    hold.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    if not recording.holds.filter(lifted_at__isnull=True).exists():
        stopped = recording.clock_stopped_at or now
        recording.held_seconds += int((now - stopped).total_seconds())
        recording.clock_stopped_at = None
        recording.retention_until = jobs.retention_deadline(
            recording.call.ended_at, recording.retention_days, recording.held_seconds
        )
        recording.save(update_fields=["held_seconds", "clock_stopped_at", "retention_until"])
    audit(
        "recording.hold_lifted",
        recording,
        actor=actor,
        label="command",
        data={
            "hold": hold.pk,
            "kind": hold.kind,
            "reference": hold.reference,
            "reason": hold.lift_reason,
            "retention_until": recording.retention_until,
        },
    )
    return hold


def sync_retention_days() -> int:
    """Apply an establishment's new retention setting to its recordings not yet destroyed."""
    changed = 0
    stale = Recording.objects.exclude(state=S.DESTROYED).exclude(
        retention_days=F(f"{CALL_ESTABLISHMENT}__recording_retention_days")
    )
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            recording = _lock(Recording(pk=pk))
            days = recording.call.booking.room.quarter.establishment.recording_retention_days
            if recording.state == S.DESTROYED or recording.retention_days == days:
                continue
            before = recording.retention_until
            recording.retention_days = days
            recording.retention_until = jobs.retention_deadline(
                recording.call.ended_at, days, recording.held_seconds
            )
            recording.save(update_fields=["retention_days", "retention_until"])
            audit(
                "recording.retention_changed",
                recording,
                data={"days": days, "before": before, "after": recording.retention_until},
            )
            changed += 1
    return changed


# --- Destruction ------------------------------------------------------------------------


def due(now: datetime | None = None) -> QuerySet:
    """Recordings whose retention is over and whose clock no hold stops."""
    now = now or timezone.now()
    busy = Q(state=S.PROCESSING, claimed_until__gt=now)
    return (
        Recording.objects.filter(
            retention_until__lte=now,
            clock_stopped_at__isnull=True,
            state__in=[S.PENDING, S.PROCESSING, S.READY, S.FAILED],
        )
        .exclude(busy)
        .select_related("call__booking__room__quarter__establishment", "call__detainee")
        .order_by("retention_until", "pk")
    )


def _files_of(recording: Recording) -> list:
    files = []
    if recording.file_name:
        path = jobs.stored_path(recording)
        if path.exists():
            files.append(path)
    if recording.sources_deleted_at is None:
        from recordings import sources as room_files

        files += room_files.find(recording.call)
    return files


def destroy(
    recording: Recording,
    *,
    reason: str = DestructionLog.Reason.RETENTION,
    actor=None,
    actor_label: str = "recordings-worker",
    now: datetime | None = None,
) -> DestructionLog | None:
    """Destroy one recording if it still may be; None if it may not (held, not due, gone)."""
    now = now or timezone.now()
    with transaction.atomic():
        recording = _lock(recording)
        if recording.state in (S.DESTROYED, S.EMPTY) or recording.clock_stopped_at is not None:
            return None
        if reason == DestructionLog.Reason.RETENTION and recording.retention_until > now:
            return None
        if recording.state == S.PROCESSING and (recording.claimed_until or now) > now:
            return None
        files = _files_of(recording)
        state_before = recording.state
        Recording.objects.filter(pk=recording.pk).update(
            state=S.DESTROYED,
            wrapped_key=None,
            destroyed_at=now,
            claim_token="",
            claimed_until=None,
        )
        event = audit(
            "recording.destroyed",
            recording,
            actor=actor,
            label=actor_label,
            data={
                "reason": reason,
                "state_before": state_before,
                "retention_until": recording.retention_until,
                "sha256": recording.sha256,
                "files": len(files),
            },
        )
        entry = DestructionLog.objects.create(
            at=now,
            recording=recording,
            recording_uuid=recording.uuid,
            call_id_copy=recording.call_id,
            establishment_id=recording.call.booking.room.quarter.establishment_id,
            call_ended_at=recording.call.ended_at,
            state_before=state_before,
            reason=reason,
            retention_until=recording.retention_until,
            held_seconds=recording.held_seconds,
            sha256=recording.sha256,
            stored_size=recording.stored_size,
            files_removed=len(files),
            actor=actor,
            actor_label=actor.get_username() if actor else actor_label,
            audit_seq=event.seq,
        )
    _remove_files(Recording.objects.select_related("call__media_node").get(pk=recording.pk))
    return entry


def _remove_files(recording: Recording) -> None:
    if recording.file_name:
        path = jobs.stored_path(recording)
        path.unlink(missing_ok=True)
        path.with_suffix(".partial").unlink(missing_ok=True)
    if recording.call.media_node_id is not None:
        jobs.delete_sources(recording)
    # Only now: an empty name tells the sweep that nothing is left to delete.
    Recording.objects.filter(pk=recording.pk).update(file_name="")


def sweep_destroyed() -> int:
    """Delete files of destroyed recordings that a crash left behind (their keys are gone)."""
    count = 0
    leftovers = Recording.objects.filter(state=S.DESTROYED).filter(
        Q(sources_deleted_at__isnull=True) | ~Q(file_name="")
    )
    for recording in leftovers.select_related("call__media_node"):
        count += len(_files_of(recording))
        _remove_files(recording)
    return count


@dataclass
class PurgeReport:
    due: list[Recording] = field(default_factory=list)
    destroyed: list[DestructionLog] = field(default_factory=list)
    executed: bool = False


def purge(
    *,
    execute: bool,
    now: datetime | None = None,
    establishment_id: int | None = None,
    actor=None,
    actor_label: str = "recordings-worker",
    reason: str = DestructionLog.Reason.RETENTION,
) -> PurgeReport:
    now = now or timezone.now()

    def due_now() -> list[Recording]:
        recordings = due(now)
        if establishment_id is not None:
            recordings = recordings.filter(**{f"{CALL_ESTABLISHMENT}_id": establishment_id})
        return list(recordings)

    if execute:
        sync_retention_days()
        report = PurgeReport(due=due_now(), executed=True)
    else:
        # A dry run lists what --execute would destroy, a lowered retention included, and
        # keeps nothing of the retention it worked out.
        with transaction.atomic():
            sync_retention_days()
            report = PurgeReport(due=due_now(), executed=False)
            transaction.set_rollback(True)
    if execute:
        for recording in report.due:
            entry = destroy(recording, reason=reason, actor=actor, actor_label=actor_label, now=now)
            if entry is not None:
                report.destroyed.append(entry)
    return report


# --- Signed report of destructions -----------------------------------------------------


def report_entries(entries: QuerySet) -> list[dict]:
    rows = []
    for e in entries.select_related("establishment").order_by("at", "id"):
        rows.append(
            {
                "id": e.pk,
                "at": e.at.isoformat(),
                "recording": str(e.recording_uuid),
                "call": e.call_id_copy,
                "establishment": e.establishment.code,
                "call_ended_at": e.call_ended_at.isoformat() if e.call_ended_at else None,
                "reason": e.reason,
                "state_before": e.state_before,
                "retention_until": e.retention_until.isoformat(),
                "held_seconds": e.held_seconds,
                "sha256": e.sha256,
                "stored_size": e.stored_size,
                "files_removed": e.files_removed,
                "by": e.actor_label,
                "audit_seq": e.audit_seq,
            }
        )
    return rows


def destruction_report(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    establishment_ids: set[int] | None = None,
    generated_by: str = "",
) -> dict:
    """The destruction log for a period, signed (Ed25519) so that it can be checked later."""
    entries = DestructionLog.objects.all()
    if start is not None:
        entries = entries.filter(at__gte=start)
    if end is not None:
        entries = entries.filter(at__lt=end)
    if establishment_ids is not None:
        entries = entries.filter(establishment_id__in=establishment_ids)
    rows = report_entries(entries)
    report = {
        "format": REPORT_FORMAT,
        "generated_at": timezone.now().isoformat(),
        "generated_by": generated_by,
        "period": {
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        },
        "establishments": sorted(establishment_ids) if establishment_ids is not None else "all",
        "count": len(rows),
        "entries": rows,
    }
    key = crypto.signing_key()
    return {
        "report": report,
        "signature": {
            "algorithm": "Ed25519",
            "public_key": crypto.public_key_b64(key),
            "signed": "UTF-8 JSON of 'report', keys sorted, no spaces (separators ',' ':')",
            "value": crypto.sign(crypto.canonical_json(report), key),
        },
    }


def verify_report(document: dict, trusted_public_key: str | None = None) -> bool:
    """True if the report is intact and signed by ``trusted_public_key`` (by default, by
    the key it names, which only proves it was not changed since someone signed it)."""
    try:
        signature = document["signature"]
        public = trusted_public_key or signature["public_key"]
        if signature.get("algorithm") != "Ed25519" or signature.get("public_key") != public:
            return False
        payload = crypto.canonical_json(document["report"])
        return crypto.verify_signature(payload, signature["value"], public)
    except (KeyError, TypeError):
        return False


def lapse(recording: Recording, now: datetime | None = None) -> timedelta | None:
    """Time left before destruction, None while the clock is stopped."""
    if recording.clock_stopped_at is not None:
        return None
    return max(timedelta(0), recording.retention_until - (now or timezone.now()))
