"""Replaying a recording: an audited session per stated reason, and byte ranges decrypted
on the fly for the browser's player (which seeks with ``Range`` requests)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from recordings import crypto, keys
from recordings.events import audit
from recordings.models import Recording, ReplaySession

log = logging.getLogger(__name__)

MIN_REASON = 10
# Enough for a few seconds of video per request; the browser asks again as it plays.
MAX_RANGE = 4 * 1024 * 1024


def start_session(recording: Recording, staff, reason: str) -> ReplaySession:
    """Open a replay for ``staff``, who has said why; the reason goes to the audit log."""
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON:
        raise ValidationError(
            _("Indiquez le motif de la consultation (%(n)s caractères au moins).")
            % {"n": MIN_REASON},
            code="reason",
        )
    if recording.state != Recording.State.READY:
        raise ValidationError(_("Cet enregistrement ne peut pas être lu."), code="state")
    now = timezone.now()
    with transaction.atomic():
        session = ReplaySession.objects.create(
            recording=recording,
            staff=staff,
            reason=reason[:500],
            started_at=now,
            expires_at=now + timedelta(minutes=settings.RECORDINGS_REPLAY_MINUTES),
        )
        event = audit(
            "recording.replayed",
            recording,
            actor=staff,
            data={"session": str(session.pk), "reason": session.reason},
        )
        ReplaySession.objects.filter(pk=session.pk).update(audit_seq=event.seq)
    return session


def touch(session: ReplaySession) -> None:
    ReplaySession.objects.filter(pk=session.pk).update(
        requests=F("requests") + 1, last_request_at=timezone.now()
    )


class Unsatisfiable(Exception):
    pass


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range asked for, or None to send everything (no header, several
    ranges or a syntax we ignore, as RFC 9110 allows). Raises Unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if start >= size:
        raise Unsatisfiable
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None
    return ByteRange(start, end)


def _flag_tampered(recording: Recording, error: Exception) -> None:
    log.error("Recording %s fails authentication: %s", recording.pk, error)
    with transaction.atomic():
        Recording.objects.filter(pk=recording.pk).update(
            flagged=True, problem=Recording.Problem.TAMPERED, problem_detail=str(error)[:4000]
        )
        audit("recording.integrity_failure", recording, label="replay", data={"error": str(error)})


def plaintext_chunks(recording: Recording, media: crypto.EncryptedFile, span: ByteRange):
    """Decrypted bytes of ``span``; a chunk failing authentication flags the recording and
    cuts the response (the player then shows an error rather than altered media)."""
    try:
        yield from media.read_range(span.start, span.end)
    except crypto.TamperedError as exc:
        _flag_tampered(recording, exc)
        raise
    finally:
        media.close()


async def aiterate(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Serve a blocking iterator under ASGI one item at a time, each read in a worker
    thread: Django would otherwise read all of it into memory first."""
    step = sync_to_async(lambda: next(iterator, None), thread_sensitive=False)
    try:
        while (data := await step()) is not None:
            yield data
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=False)()


def open_for_replay(recording: Recording) -> crypto.EncryptedFile:
    try:
        return keys.open_plaintext(recording)
    except crypto.TamperedError as exc:
        _flag_tampered(recording, exc)
        raise
