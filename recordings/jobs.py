"""Turning a finished call's Janus files into one encrypted recording, safely across crashes.

A job is a Recording row. ``enqueue`` creates it, once per recorded call whose room is gone
(the unique call column makes a second worker's insert fail harmlessly). ``claim`` takes
one with a conditional UPDATE that also sets a lease (``claimed_until``); the worker renews
the lease while its tools run. A worker that dies leaves its lease to expire, and any
worker then resumes the job from the start (the sources are only deleted once the
encrypted file is verified and recorded). A restarted worker on the same host does not
wait for the lease: a claim whose process is gone is taken back at once.

Sources that are missing or unreadable never disappear quietly: the recording is
flagged for staff, with what was wrong, and kept as far as it could be made.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from calls.models import Call, Participant
from ops import metrics as ops_metrics
from recordings import compose, crypto
from recordings import sources as room_files
from recordings.events import audit
from recordings.models import Recording

log = logging.getLogger(__name__)

S = Recording.State
P = Recording.Problem
SIDE_OF_ROLE = {Participant.Role.KIOSK: compose.LEFT, Participant.Role.RELATIVE: compose.RIGHT}
# Who each side is: the kiosk, then each relative leg in its order (calls.CallRelative).
ROLE_OF_SIDE = {
    compose.LEFT: "kiosk",
    compose.RIGHT: "relative",
    compose.THIRD: "relative 2",
    compose.FOURTH: "relative 3",
}


def _side_of(role: str, leg_position: int | None) -> str:
    """The kiosk's side is left; a relative's follows its leg (the first relative right)."""
    if role == Participant.Role.KIOSK:
        return compose.LEFT
    return compose.SIDES[1 + min(leg_position or 0, len(compose.SIDES) - 2)]


class LeaseLost(Exception):
    """Another worker took the job over (our lease expired): drop what we made."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claimed_by_dead_process_here(claimed_by: str) -> bool:
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    # A pid reused by another process counts as alive: then we wait for the lease.
    return not Path(f"/proc/{pid}").exists()


def retention_deadline(ended_at: datetime, days: int, held_seconds: int = 0) -> datetime:
    return ended_at + timedelta(days=days, seconds=held_seconds)


# --- Enqueue and claim ------------------------------------------------------------------


def enqueue(limit: int = 200) -> list[int]:
    """A pending recording for every recorded call that is over and whose room is gone."""
    calls = (
        Call.objects.filter(
            recorded=True,
            state__in=Call.FINAL_STATES,
            media_released_at__isnull=False,
            recording__isnull=True,
        )
        .select_related("booking__room__quarter__establishment")
        .order_by("media_released_at")[:limit]
    )
    created = []
    for call in calls:
        days = call.booking.room.quarter.establishment.recording_retention_days
        try:
            with transaction.atomic():
                recording = Recording.objects.create(
                    call=call,
                    retention_days=days,
                    retention_until=retention_deadline(call.ended_at, days),
                )
        except IntegrityError:
            continue  # another worker made it first
        created.append(recording.pk)
    return created


@dataclass(frozen=True)
class Claim:
    pk: int
    token: str
    resumed_from: str  # "" for a first attempt, else the previous holder


def _settled(recording: Recording, now: datetime) -> bool:
    """Janus has closed the files: the rooms are gone and nothing was written lately (or
    the rooms' files were shipped by their nodes' agents)."""
    return room_files.settled(recording.call, now)


def claim(now: datetime | None = None) -> Claim | None:
    now = now or timezone.now()
    me = worker_id()
    host = me.rpartition(":")[0]
    candidates = (
        Recording.objects.filter(
            Q(state=S.PENDING, claimed_until__isnull=True)
            | Q(state=S.PENDING, claimed_until__lte=now)
            | Q(state=S.PROCESSING, claimed_until__lte=now)
            | Q(state=S.PROCESSING, claimed_by__startswith=f"{host}:")
        )
        .select_related("call__media_node")
        .order_by("created_at", "pk")[:50]
    )
    for recording in candidates:
        resumed_from = ""
        if recording.state == S.PROCESSING:
            expired = recording.claimed_until is None or recording.claimed_until <= now
            if not expired and not _claimed_by_dead_process_here(recording.claimed_by):
                continue
            resumed_from = recording.claimed_by
        if not _settled(recording, now):
            continue
        token = secrets.token_hex(16)
        taken = Recording.objects.filter(
            pk=recording.pk, state=recording.state, claim_token=recording.claim_token
        ).update(
            state=S.PROCESSING,
            claim_token=token,
            claimed_by=me,
            claimed_until=now + timedelta(seconds=settings.RECORDINGS_LEASE_SECONDS),
            attempts=F("attempts") + 1,
        )
        if taken:
            if resumed_from:
                log.warning("Recording %s: resuming the job %s left", recording.pk, resumed_from)
            return Claim(recording.pk, token, resumed_from)
    return None


class Lease:
    def __init__(self, claim: Claim) -> None:
        self.claim = claim

    def _mine(self):
        return Recording.objects.filter(
            pk=self.claim.pk, state=S.PROCESSING, claim_token=self.claim.token
        )

    def renew(self) -> None:
        until = timezone.now() + timedelta(seconds=settings.RECORDINGS_LEASE_SECONDS)
        if not self._mine().update(claimed_until=until):
            raise LeaseLost(f"Recording {self.claim.pk}: job taken over by another worker")

    def finish(self, **fields) -> bool:
        """Write the job's outcome, if the job is still ours."""
        return bool(self._mine().update(**{"claim_token": "", "claimed_until": None, **fields}))


# --- Processing -------------------------------------------------------------------------


@dataclass
class Outcome:
    state: str
    problem: str = ""
    problem_detail: str = ""
    details: dict | None = None
    composed: compose.Composed | None = None
    media_started_at: datetime | None = None


def _sides(call: Call, sources: list[compose.Source]) -> dict[int, str]:
    """Which side (left: the detainee's kiosk, right: the relative) each feed goes to."""
    known = {feed: side for side, feeds in _feeds_by_side(call) for feed in feeds}
    spans: dict[int, tuple[int, int]] = {}
    for s in sources:
        start = s.first_packet_us
        end = start + int(s.duration * 1e6)
        low, high = spans.get(s.feed, (start, end))
        spans[s.feed] = (min(low, start), max(high, end))
    sides = {feed: known[feed] for feed in spans if feed in known}
    # Feeds the call layer did not keep (replaced by a later publication of the same
    # side): put each one where it does not overlap what is already there.
    for feed in sorted((f for f in spans if f not in sides), key=lambda f: spans[f]):
        start, end = spans[feed]
        free = [
            side
            for side in (compose.LEFT, compose.RIGHT)
            if all(
                spans[f][1] <= start or spans[f][0] >= end for f, s in sides.items() if s == side
            )
        ]
        sides[feed] = free[0] if free else compose.LEFT
    return sides


def _feeds_by_side(call: Call) -> list[tuple[str, list[int]]]:
    """Each side's feeds: every one it published (in any room), and its last."""
    found = []
    for role, position, feed, published in Participant.objects.filter(
        call=call, role__in=list(SIDE_OF_ROLE)
    ).values_list("role", "relative__position", "feed_id", "published_feeds"):
        feeds = [int(f) for f in published or []]
        if feed is not None and feed not in feeds:
            feeds.append(feed)
        found.append((_side_of(role, position), feeds))
    return found


def _published_sides(call: Call) -> set[str]:
    return {side for side, feeds in _feeds_by_side(call) if feeds}


def _expected_feeds(call: Call) -> set[int]:
    """Feeds whose files must be there: each side's last publication."""
    return set(
        Participant.objects.filter(
            call=call, feed_id__isnull=False, role__in=list(SIDE_OF_ROLE)
        ).values_list("feed_id", flat=True)
    )


def produce(recording: Recording, work: Path, runner: compose.Runner) -> Outcome:
    """Find, check, extract and compose the call's sources into ``work/recording.webm``."""
    call = recording.call
    folders = ", ".join(str(folder) for folder in room_files.folders(call))
    rooms = [room.room for room in room_files.rooms_of(call)]
    paths = room_files.fetch(call, work / "sources")
    details: dict = {
        "folder": folders,
        "rooms": rooms,
        "sources": [p.name for p in paths],
        "interrupted": call.state == Call.State.MEDIA_FAILED or call.outages.exists(),
    }
    if not paths:
        if call.started_at is None:
            # The conversation never started and nobody published: nothing was recorded.
            return Outcome(S.EMPTY, details=details)
        return Outcome(
            S.FAILED,
            P.MISSING_FILES,
            f"No recording file in {folders} for rooms {rooms}",
            details,
        )
    sources = [compose.Source.from_name(p) for p in paths]
    unusable: list[dict] = []

    def reject(source: compose.Source, error: compose.SourceError) -> None:
        unusable.append({"file": source.path.name, "error": str(error), "detail": error.detail})

    header_errors = compose.read_headers(sources)
    readable = []
    for source, error in zip(sources, header_errors, strict=True):
        if error is None:
            readable.append(source)
        else:
            reject(source, error)
    sides = _sides(call, readable)
    for source in readable:
        source.side = sides[source.feed]
    tracks = []
    extracted = compose.extract(readable, work / "streams", runner)
    for source, result in zip(readable, extracted, strict=True):
        if isinstance(result, compose.SourceError):
            reject(source, result)
        else:
            tracks.append(result)
    details["unusable"] = unusable
    if not tracks:
        return Outcome(
            S.FAILED,
            P.CORRUPT_FILES,
            "No usable stream: " + "; ".join(u["error"] for u in unusable),
            details,
        )
    base_us = compose.place(tracks)
    log.info("Recording %s: composing %s streams", recording.pk, len(tracks))
    try:
        composed = compose.compose(tracks, work, work / "recording.webm", runner)
    except compose.ComposeError:
        # Which file broke it? Only now is each one probed; without them, try once more.
        broken = compose.find_unplayable(tracks)
        if not broken:
            raise
        for track, error in broken:
            reject(track.source, error)
            tracks.remove(track)
        if not tracks:
            return Outcome(S.FAILED, P.CORRUPT_FILES, "No playable stream", details)
        (work / "recording.webm").unlink(missing_ok=True)
        composed = compose.compose(tracks, work, work / "recording.webm", runner)
    details.update(
        video=composed.video,
        audio=composed.audio,
        tracks=composed.tracks,
        sides={side: ROLE_OF_SIDE[side] for side in sorted({t.source.side for t in tracks})},
        seconds={k: round(v, 3) for k, v in composed.seconds.items()},
        # Who the picture shows, segment by segment (empty when nothing was composed).
        layout=composed.layout,
    )
    problem, detail = "", ""
    # A relative may well publish without a camera: a missing kind is noted, not flagged.
    details["missing_streams"] = [
        f"{ROLE_OF_SIDE[side]}: no {kind}"
        for side in sorted({t.source.side for t in tracks})
        for kind in ("audio", "video")
        if not any(t.source.side == side and t.source.kind == kind for t in tracks)
    ]
    missing_feeds = _expected_feeds(call) - {s.feed for s in sources}
    covered = {t.source.side for t in tracks if t.source.kind == "audio"}
    if unusable:
        problem = P.CORRUPT_FILES
        detail = "; ".join(u["error"] for u in unusable)
    elif missing_feeds:
        problem = P.MISSING_FILES
        detail = f"No file for feeds {sorted(missing_feeds)} in {folders}"
    elif call.started_at is not None and (
        absent := ({compose.LEFT, compose.RIGHT} | _published_sides(call)) - covered
    ):
        # Every party that published must be heard: the kiosk, and each relative leg.
        problem = P.MISSING_SIDE
        detail = "No audio from " + ", ".join(ROLE_OF_SIDE[s] for s in sorted(absent))
    return Outcome(
        S.READY,
        problem,
        detail,
        details,
        composed,
        datetime.fromtimestamp(base_us / 1e6, tz=UTC),
    )


def stored_path(recording: Recording) -> Path:
    return settings.RECORDINGS_DIR / recording.file_name


def seal(recording: Recording, plaintext: Path, token: str) -> dict:
    """Encrypt, verify by decrypting, and return the fields that make the recording ready."""
    ring = crypto.keyring()
    key = crypto.new_file_key()
    # A name of its own per attempt: a worker that lost its lease can never overwrite
    # (or delete) the file of the attempt that won.
    name = f"store/{recording.uuid.hex[:2]}/{recording.uuid}-{token[:8]}.prec"
    target = settings.RECORDINGS_DIR / name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    sealed = crypto.encrypt_file(plaintext, partial, key, recording.file_id)
    with crypto.EncryptedFile(
        partial, key, recording.file_id, expected_size=sealed.stored_size
    ) as check:
        if check.verify() != sealed.plaintext_sha256 or check.size != sealed.plaintext_size:
            raise crypto.TamperedError("The encrypted file does not decrypt to what was written")
    if crypto.sha256_file(partial) != sealed.sha256:
        raise crypto.TamperedError("The encrypted file changed on disk while it was verified")
    partial.rename(target)
    return {
        "file_name": name,
        "stored_size": sealed.stored_size,
        "sha256": sealed.sha256,
        "plaintext_size": sealed.plaintext_size,
        "plaintext_sha256": sealed.plaintext_sha256,
        "wrapped_key": ring.current.wrap(key, crypto.key_context(recording.file_id)),
        "key_id": ring.current.id,
    }


def tools_runner(renew: Callable[[], None], work: Path) -> compose.Runner:
    """How a job runs its tools: the lease renewed while they work, their logs in the
    job's folder, their CPU priority lowered (PARLOIR_RECORDINGS_NICE)."""
    return compose.Runner(
        heartbeat=renew,
        interval=max(0.5, min(5.0, settings.RECORDINGS_LEASE_SECONDS / 4)),
        log_dir=work / "logs",
        nice=settings.RECORDINGS_NICE,
    )


def process(job: Claim) -> Recording:
    """Run one claimed job to its end: ready, empty, failed (flagged) or back to pending."""
    recording = Recording.objects.select_related(
        "call__media_node", "call__booking__room__quarter"
    ).get(pk=job.pk)
    lease = Lease(job)
    started = time.monotonic()
    log.info(
        "Recording %s: processing call %s (attempt %s)",
        job.pk,
        recording.call_id,
        recording.attempts,
    )
    work = settings.RECORDINGS_WORK_DIR / str(recording.uuid)
    runner = tools_runner(lease.renew, work)
    sealed_name = ""
    try:
        # Whatever an earlier attempt left here is incomplete by definition: start again.
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        outcome = produce(recording, work, runner)
        lease.renew()
        fields: dict = {
            "state": outcome.state,
            "details": outcome.details or {},
            "problem": outcome.problem,
            "problem_detail": outcome.problem_detail,
            "flagged": bool(outcome.problem) or outcome.state == S.FAILED,
            "processed_at": timezone.now(),
            "last_error": "",
        }
        if outcome.composed is not None:
            fields.update(seal(recording, outcome.composed.path, job.token))
            sealed_name = fields["file_name"]
            fields["duration_seconds"] = round(outcome.composed.duration, 3)
            fields["media_started_at"] = outcome.media_started_at
        with transaction.atomic():
            if not lease.finish(**fields):
                raise LeaseLost(f"Recording {job.pk}: job taken over before it was recorded")
            _audit_outcome(recording, fields, job)
            ops_metrics.recording_processed(fields["state"], started)
    except LeaseLost as exc:
        log.warning("%s", exc)
        if sealed_name:
            (settings.RECORDINGS_DIR / sealed_name).unlink(missing_ok=True)
        return Recording.objects.get(pk=job.pk)
    except crypto.NoMasterKey:
        # A configuration error, not the recording's fault: give the job back untouched.
        lease.finish(state=S.PENDING, attempts=F("attempts") - 1)
        raise
    except Exception as exc:
        log.exception("Recording %s: processing failed", job.pk)
        if sealed_name:
            (settings.RECORDINGS_DIR / sealed_name).unlink(missing_ok=True)
        _retry_or_fail(recording, lease, exc, started)
        return Recording.objects.get(pk=job.pk)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    recording.refresh_from_db()
    if recording.state in (S.READY, S.EMPTY):
        delete_sources(recording)
    return recording


def _audit_outcome(recording: Recording, fields: dict, job: Claim) -> None:
    data = {
        "state": fields["state"],
        "duration": fields.get("duration_seconds"),
        "sha256": fields.get("sha256", ""),
        "key_id": fields.get("key_id", ""),
        "problem": fields["problem"],
        "attempt_resumed_from": job.resumed_from,
    }
    audit("recording.flagged" if fields["flagged"] else "recording.processed", recording, data=data)


def _retry_or_fail(recording: Recording, lease: Lease, exc: Exception, started: float) -> None:
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, compose.ComposeError) and exc.detail:
        detail += "\n" + exc.detail
    current = Recording.objects.get(pk=recording.pk)
    if current.attempts >= settings.RECORDINGS_MAX_ATTEMPTS:
        with transaction.atomic():
            if lease.finish(
                state=S.FAILED,
                flagged=True,
                problem=P.PROCESSING_ERROR,
                problem_detail=detail[:4000],
                last_error=detail[:4000],
                processed_at=timezone.now(),
            ):
                audit("recording.flagged", recording, data={"problem": P.PROCESSING_ERROR})
                ops_metrics.recording_processed(S.FAILED, started)
        return
    backoff = timedelta(seconds=30 * current.attempts)
    lease.finish(state=S.PENDING, last_error=detail[:4000], claimed_until=timezone.now() + backoff)


def delete_sources(recording: Recording) -> int:
    """Remove the call's Janus files once its encrypted recording is safe (or destroyed)."""
    removed = room_files.delete(recording.call)
    Recording.objects.filter(pk=recording.pk, sources_deleted_at__isnull=True).update(
        sources_deleted_at=timezone.now()
    )
    return removed


def cleanup_sources() -> int:
    """Finish deletions interrupted by a crash right after a recording became ready."""
    count = 0
    for recording in Recording.objects.filter(
        state=S.READY, sources_deleted_at__isnull=True
    ).select_related("call__media_node"):
        count += delete_sources(recording)
    return count


def retry(recording: Recording, *, actor=None) -> bool:
    """Put a failed recording back in the queue (the sources may be readable again)."""
    with transaction.atomic():
        done = Recording.objects.filter(pk=recording.pk, state=S.FAILED).update(
            state=S.PENDING, attempts=0, claimed_until=None, claim_token="", claimed_by=""
        )
        if done:
            audit("recording.retry", recording, actor=actor, label="command")
    return bool(done)
