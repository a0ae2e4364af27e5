"""The notification layer's write path: queue a message, hand it to a backend, keep what
became of it (retries, fallback from SMS to voice, delivery reports).

A message is one thing to tell one person; it keeps its text and digits for its whole
life, so a retry or a fallback never says anything else (never another code). Each try
is an Attempt row. The outbox is delivered right after commit; network gateways by
the notify worker (notify/worker.py), which claims due messages with a conditional
UPDATE.
"""

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from notify import hooks
from notify.backends.base import Backend, Outcome
from notify.models import Attempt, Message
from ops import metrics as ops_metrics
from people.models import AuthorizedContact
from people.phones import LineType

log = logging.getLogger(__name__)

BACKENDS = {
    "outbox": "notify.backends.outbox.OutboxBackend",
    "kannel": "notify.backends.kannel.KannelBackend",
    "smpp": "notify.backends.smpp.SmppBackend",
    "sip": "notify.backends.sip.SipBackend",
}
CHANNEL_BACKENDS = {
    Message.Channel.SMS: ("outbox", "kannel", "smpp"),
    Message.Channel.VOICE: ("outbox", "sip"),
}
# How long a worker may hold a message it is sending: a voice call rings up to
# PARLOIR_SIP_RING_SECONDS and then speaks; past this, another worker may take it over.
LEASE = timedelta(minutes=5)

S = Message.Status


def get_backend(name: str | None = None) -> Backend:
    name = name or settings.NOTIFY_BACKEND
    try:
        path = BACKENDS[name]
    except KeyError:
        raise LookupError(f"Unknown notification backend {name!r}") from None
    return import_string(path)()


def backend_for(channel: str) -> str:
    """The configured backend of a channel (PARLOIR_SMS_BACKEND, PARLOIR_VOICE_BACKEND)."""
    name = settings.SMS_BACKEND if channel == Message.Channel.SMS else settings.VOICE_BACKEND
    if name not in CHANNEL_BACKENDS[channel]:
        raise LookupError(
            f"{name!r} cannot carry {channel}: choose one of {', '.join(CHANNEL_BACKENDS[channel])}"
        )
    return name


def channel_for(line_type: str) -> str:
    """Mobiles get an SMS, landlines a voice call; an ambiguous line is texted first."""
    return Message.Channel.VOICE if line_type == LineType.LANDLINE else Message.Channel.SMS


def fallback_for(line_type: str) -> str:
    """An ambiguous line may be a landline that never gets the SMS: call it then."""
    return Message.Channel.VOICE if line_type == LineType.AMBIGUOUS else ""


def do_send_message(
    contact: AuthorizedContact,
    *,
    purpose: str,
    text: str,
    establishment=None,
    spoken_digits: str = "",
    valid_until: datetime | None = None,
) -> Message:
    """Queue ``text`` for ``contact`` on the channel its line needs; it leaves after commit.

    ``spoken_digits`` is what a voice call reads out one by one (a code) instead of the
    text; ``valid_until`` is when the message stops being worth sending (the code expires):
    no retry and no fallback go past it.
    """
    establishment = establishment or contact.detainee.establishment
    channel = channel_for(contact.line_type)
    backend = backend_for(channel)
    message = Message.objects.create(
        establishment=establishment,
        contact=contact,
        to_number=contact.phone_number,
        channel=channel,
        language=contact.language,
        purpose=purpose,
        text=text,
        backend=backend,
        spoken_digits=spoken_digits,
        valid_until=valid_until,
        fallback_channel=fallback_for(contact.line_type),
    )
    transaction.on_commit(lambda: _dispatch(message.pk, backend))
    return message


def _dispatch(message_id: int, backend: str) -> None:
    if get_backend(backend).queued:
        from notify import worker

        worker.wake()
    else:
        deliver(message_id)


def _due() -> Q:
    now = timezone.now()
    return (
        Q(status=S.QUEUED)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    )


def due_message_ids(limit: int = 50) -> list[int]:
    """Queued messages of the worker's backends whose time has come, oldest first."""
    queued_backends = [name for name in BACKENDS if get_backend(name).queued]
    return list(
        Message.objects.filter(_due(), backend__in=queued_backends)
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def _line_in_use(now: datetime) -> Exists:
    """Another voice call to the same number is under way. A landline rings busy for a
    second call: the message waits for the line (a later pass) instead of spending its
    tries on the busy tone."""
    return Exists(
        Message.objects.filter(
            to_number=OuterRef("to_number"),
            channel=Message.Channel.VOICE,
            claimed_until__gt=now,
        ).exclude(pk=OuterRef("pk"))
    )


# Kept on the message for staff (in French, like every stored error).
_BOOKING_CHANGED = "Plus utile : la réservation a changé depuis, ou son heure est passée."
_NO_LONGER_USEFUL = {
    Message.Purpose.CALL_CODE: "Plus utile : le code a expiré ou a été remplacé.",
    Message.Purpose.BOOKING_MADE: _BOOKING_CHANGED,
    Message.Purpose.BOOKING_MOVED: _BOOKING_CHANGED,
    Message.Purpose.BOOKING_CANCELLED: "Plus utile : un avis plus récent le remplace.",
}


def _why_unwanted(message: Message, at: datetime) -> str:
    if message.purpose not in _NO_LONGER_USEFUL and message.valid_until is not None:
        return "Plus utile : sa validité a expiré."
    return _NO_LONGER_USEFUL.get(message.purpose, "Plus utile.")


def claim(message_id: int) -> tuple[Message, Attempt] | None:
    """Take a due message for one attempt; None when another worker has it or it is not due.

    The conditional UPDATE is the lock: of two workers, one matches the row. A message no
    longer worth sending (its code expired or was replaced) fails here, unsent.
    """
    now = timezone.now()
    taken = (
        Message.objects.filter(_due(), pk=message_id)
        .exclude(Q(channel=Message.Channel.VOICE) & _line_in_use(now))
        .update(claimed_until=now + LEASE, attempts=F("attempts") + 1)
    )
    if not taken:
        return None
    # The voice backend names the detainee who calls, from its event loop (no queries).
    message = Message.objects.select_related("contact__detainee").get(pk=message_id)
    if not still_wanted(message, now):
        _finish_failed(message_id, _why_unwanted(message, now))
        return None
    attempt = Attempt.objects.create(
        message=message, channel=message.channel, backend=message.backend, started_at=now
    )
    return message, attempt


def still_wanted(message: Message, at: datetime) -> bool:
    if message.valid_until is not None and at >= message.valid_until:
        return False
    return hooks.still_wanted(message, at)


def _finish_failed(message_id: int, error: str) -> None:
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        message.status, message.failed_at, message.error = S.FAILED, timezone.now(), error
        message.claimed_until = None
        message.save(update_fields=["status", "failed_at", "error", "claimed_until"])
        _changed(message)


def deliver(message_id: int) -> Message:
    """Hand one queued message to its backend and keep the outcome (synchronously)."""
    claimed = claim(message_id)
    if claimed is None:
        return Message.objects.get(pk=message_id)
    message, attempt = claimed
    backend = get_backend(message.backend)
    try:
        outcome = backend.send(message)
    except OSError as exc:
        log.exception("Notification backend %s failed for message %s", backend.name, message.pk)
        # Only the worker retries: an inline backend (the outbox) that cannot write says so.
        outcome = Outcome(ok=False, error=str(exc), retryable=backend.queued)
    message = record(message.pk, attempt.pk, outcome)
    backend.recorded(message)
    return message


def _result(outcome: Outcome) -> str:
    if outcome.result:
        return outcome.result
    if outcome.ok:
        return Attempt.Outcome.DELIVERED if outcome.delivered else Attempt.Outcome.ACCEPTED
    return Attempt.Outcome.FAILED


def backoff(attempts_on_channel: int) -> timedelta:
    """Exponential, with jitter so that a gateway coming back is not hit all at once."""
    base = settings.NOTIFY_RETRY_SECONDS * 2 ** max(0, attempts_on_channel - 1)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311 (not a secret)


@transaction.atomic
def record(message_id: int, attempt_id: int, outcome: Outcome) -> Message:
    """Keep the outcome of one attempt, and decide what comes next."""
    now = timezone.now()
    # Locked first, as do_report_delivery does: a report and this outcome never interleave.
    message = Message.objects.select_for_update().get(pk=message_id)
    # The gateway may report delivery before its answer to the send reaches us (Kannel's
    # fake SMSC does): the report then has the last word, on the attempt as on the message.
    reported = Attempt.objects.filter(pk=attempt_id).exclude(outcome="").exists()
    fields = {"finished_at": now, "provider_ref": outcome.provider_ref[:100]}
    if not reported:
        fields.update(outcome=_result(outcome), detail=outcome.error[:2000])
    Attempt.objects.filter(pk=attempt_id).update(**fields)
    message.claimed_until = None
    if reported or message.status != S.QUEUED:
        message.save(update_fields=["claimed_until"])
        return message
    message.provider_ref = outcome.provider_ref[:100]
    if outcome.ok:
        message.status = S.DELIVERED if outcome.delivered else S.SENT
        message.sent_at = now
        message.delivered_at = now if outcome.delivered else None
        message.error = ""
        message.next_attempt_at = None
        message.save()
        _changed(message)
        return message
    _failed(message, outcome.error, retryable=outcome.retryable, now=now)
    return message


def _failed(message: Message, error: str, *, retryable: bool, now: datetime) -> None:
    """After a failed attempt: retry later, fall back to the other channel, or give up."""
    message.error = error[:2000]
    message.claimed_until = None
    tries = Attempt.objects.filter(message=message, channel=message.channel).count()
    wait = backoff(tries)
    if retryable and tries < settings.NOTIFY_MAX_ATTEMPTS and still_wanted(message, now + wait):
        message.status = S.QUEUED
        message.next_attempt_at = now + wait
    elif (
        message.fallback_channel
        and message.fallback_channel != message.channel
        and still_wanted(message, now)
    ):
        log.info("Message %s: %s failed, falling back to %s", message.pk, message.channel,
                 message.fallback_channel)  # fmt: skip
        message.channel = message.fallback_channel
        message.backend = backend_for(message.channel)
        message.fallback_channel = ""
        message.status = S.QUEUED
        message.next_attempt_at = now
        message.provider_ref = ""
    else:
        message.status = S.FAILED
        message.failed_at = now
        message.next_attempt_at = None
    message.save()
    _changed(message)
    if message.status == S.QUEUED:
        backend = message.backend
        # A retry waits in its row (next_attempt_at) for the worker; an outbox fallback goes now.
        transaction.on_commit(lambda: _dispatch(message.pk, backend))


def _changed(message: Message) -> None:
    ops_metrics.message_changed(message)
    hooks.status_changed(message)


@transaction.atomic
def do_report_delivery(
    *,
    delivered: bool,
    detail: str,
    message_id: int | None = None,
    attempt: int | None = None,
    provider_ref: str = "",
    channel: str = Message.Channel.SMS,
) -> Message | None:
    """A delivery report from the SMS gateway: the message reached the phone, or never will.

    Found by our id and attempt number (Kannel calls a URL we made) or by the gateway's
    reference (SMPP receipts). A report about an earlier attempt, or about a message that
    has since fallen back to voice, changes nothing.
    """
    query = Message.objects.select_for_update().filter(channel=channel)
    if message_id is not None:
        query = query.filter(pk=message_id, attempts=attempt)
    else:
        query = query.filter(provider_ref=provider_ref, backend="smpp")
    message = query.first()
    if message is None or message.status not in (S.QUEUED, S.SENT):
        return None
    now = timezone.now()
    attempt_row = Attempt.objects.filter(message=message).order_by("-started_at", "-id").first()
    if delivered:
        message.status = S.DELIVERED
        message.delivered_at = now
        message.sent_at = message.sent_at or now
        message.claimed_until = None
        message.save()
        if attempt_row is not None:
            Attempt.objects.filter(pk=attempt_row.pk).update(
                outcome=Attempt.Outcome.DELIVERED, detail=detail[:2000]
            )
        _changed(message)
        return message
    if attempt_row is not None:
        Attempt.objects.filter(pk=attempt_row.pk).update(
            outcome=Attempt.Outcome.FAILED, detail=detail[:2000]
        )
    # The operator gave up on this number: another SMS would fail the same way.
    _failed(message, detail, retryable=False, now=now)
    return message


def fall_back_unconfirmed(now: datetime | None = None) -> list[int]:
    """SMS to ambiguous lines still unconfirmed after PARLOIR_SMS_DLR_WAIT_SECONDS: a
    landline never reports; call it instead of waiting for the code to expire."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SMS_DLR_WAIT_SECONDS)
    moved = []
    candidates = Message.objects.filter(
        status=S.SENT, channel=Message.Channel.SMS, sent_at__lt=cutoff
    ).exclude(fallback_channel="")
    for message_id in candidates.values_list("pk", flat=True)[:50]:
        with transaction.atomic():
            message = (
                Message.objects.select_for_update()
                .filter(pk=message_id, status=S.SENT, channel=Message.Channel.SMS)
                .first()
            )
            if message is None or not message.fallback_channel:
                continue
            if not still_wanted(message, now):
                # Too late to call: leave the SMS to its own fate, and this scan.
                message.fallback_channel = ""
                message.save(update_fields=["fallback_channel"])
                continue
            _failed(message, "Aucun accusé de réception du SMS.", retryable=False, now=now)
            moved.append(message_id)
    return moved
