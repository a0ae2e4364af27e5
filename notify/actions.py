"""The notification layer's write path: queue a message, hand it to a backend after commit."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from notify.backends.base import Backend
from notify.models import Message
from people.models import AuthorizedContact
from people.phones import LineType

log = logging.getLogger(__name__)

BACKENDS = {
    "outbox": "notify.backends.outbox.OutboxBackend",
}


def get_backend(name: str | None = None) -> Backend:
    name = name or settings.NOTIFY_BACKEND
    try:
        path = BACKENDS[name]
    except KeyError:
        raise LookupError(f"Unknown notification backend {name!r}") from None
    return import_string(path)()


def channel_for(line_type: str) -> str:
    """Mobiles get an SMS, landlines a voice call; an ambiguous line is texted first."""
    return Message.Channel.VOICE if line_type == LineType.LANDLINE else Message.Channel.SMS


def do_send_message(
    contact: AuthorizedContact, *, purpose: str, text: str, establishment=None
) -> Message:
    """Queue ``text`` for ``contact`` on the channel its line needs; it leaves after commit."""
    establishment = establishment or contact.detainee.establishment
    message = Message.objects.create(
        establishment=establishment,
        contact=contact,
        to_number=contact.phone_number,
        channel=channel_for(contact.line_type),
        language=contact.language,
        purpose=purpose,
        text=text,
        backend=settings.NOTIFY_BACKEND,
    )
    transaction.on_commit(lambda: deliver(message.pk))
    return message


def deliver(message_id: int) -> Message:
    """Hand one queued message to its backend and keep the outcome."""
    message = Message.objects.get(pk=message_id)
    if message.status != Message.Status.QUEUED:
        return message
    backend = get_backend(message.backend)
    now = timezone.now()
    try:
        outcome = backend.send(message)
    except OSError as exc:
        log.exception("Notification backend %s failed for message %s", backend.name, message.pk)
        outcome_ok, ref, error, delivered = False, "", str(exc), False
    else:
        outcome_ok, ref, error, delivered = (
            outcome.ok,
            outcome.provider_ref,
            outcome.error,
            outcome.delivered,
        )
    message.attempts += 1
    message.provider_ref = ref
    if outcome_ok:
        message.status = Message.Status.DELIVERED if delivered else Message.Status.SENT
        message.sent_at = now
        message.delivered_at = now if delivered else None
    else:
        message.status = Message.Status.FAILED
        message.failed_at = now
        message.error = error
    message.save(
        update_fields=[
            "attempts",
            "provider_ref",
            "status",
            "sent_at",
            "delivered_at",
            "failed_at",
            "error",
        ]
    )
    return message
