"""The privacy purge: what is past its retention is deleted, or anonymised when its figures
are worth keeping. The rules, their bounds and their legal grounds are in docs/privacy.md
(the register); the retention of each establishment is on Establishment.

Each run works out what is due per establishment and category, and, with ``apply``,
does it in one transaction per establishment that also appends to the purge log and to
the audit chain. A dry run does exactly the same inside a transaction that is rolled
back, so its counts are those an applied run would find (the order matters: a contact is
anonymised only once its calls no longer name it, which the calls rule does first).

Holds: a recording under an active hold (judicial, disciplinary appeal) freezes
everything about its call: the call and its booking stay linked to their people, whose
rows therefore stay whole, the call's messages stay, and so do the audit rows about it
(the audit chain is then cut only before the first of them).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit import log as audit_log
from audit.models import AuditEvent
from bookings.models import Booking, BookingContact, BookingNotice, BookingTransition
from calls.models import (
    Call,
    CallCode,
    CallRelative,
    CallRoom,
    CallTransition,
    CallWarning,
    CodeAttempt,
    Consent,
    Participant,
)
from establishments.models import Establishment
from notify.models import Attempt, Message
from people.models import (
    AuthorizedContact,
    ContactDecision,
    Detainee,
    PhoneAccount,
    Role,
    StaffUser,
    Suspension,
)
from privacy.models import PurgeLog
from recordings.models import Hold, Recording, ReplaySession

log = logging.getLogger(__name__)

# A code is worth nothing once it has expired; its text is kept this long after, for the
# delivery report that may still come, then wiped.
CODE_TEXT_GRACE = timedelta(hours=1)
# Code entries are kept for rate limiting, whose longest window is a day (calls.codes).
CODE_ATTEMPT_RETENTION = timedelta(days=1)
# Staff sign-in failures (django-axes: user name, address, browser) serve the lockout,
# whose window is minutes; each lockout is audited. A month covers an investigation.
SIGN_IN_ATTEMPT_RETENTION = timedelta(days=30)
# What replaces a free text that must stay non-empty (a reason) once anonymised.
ERASED = "-"

CALL_ESTABLISHMENT = "booking__room__quarter__establishment"
# Rows per statement: the first run on a year of data must not pass SQLite's limit on
# query parameters, nor make one huge statement.
BATCH = 500


def _batches(ids: list[int]):
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


@dataclass
class Line:
    category: str
    action: str
    establishment_id: int | None
    count: int
    cutoff: datetime
    retention_days: int
    held: int = 0


@dataclass
class Report:
    run: uuid.UUID
    applied: bool
    now: datetime
    lines: list[Line] = field(default_factory=list)

    def count(self, category: str, establishment_id: int | None = None) -> int:
        return sum(
            line.count
            for line in self.lines
            if line.category == category
            and (establishment_id is None or line.establishment_id == establishment_id)
        )


@dataclass
class Frozen:
    """What holds keep whole (see the module's docstring)."""

    calls: set[int]
    bookings: set[int]
    detainees: set[int]
    contacts: set[int]
    messages: set[int]
    recordings: set[int]

    @classmethod
    def now(cls) -> Frozen:
        calls = set(
            Call.objects.filter(
                recording__holds__isnull=False, recording__holds__lifted_at__isnull=True
            ).values_list("pk", flat=True)
        )
        rows = list(
            Call.objects.filter(pk__in=calls).values_list("booking_id", "detainee_id", "contact_id")
        )
        bookings = {b for b, _d, _c in rows}
        messages = set(
            CallCode.objects.filter(call_id__in=calls, message__isnull=False).values_list(
                "message_id", flat=True
            )
        ) | set(
            BookingNotice.objects.filter(booking_id__in=bookings).values_list(
                "message_id", flat=True
            )
        )
        # Every contact a held call or its booking names (issue #19), not only the first.
        others = set(
            CallRelative.objects.filter(call_id__in=calls).values_list("contact_id", flat=True)
        ) | set(
            BookingContact.objects.filter(booking_id__in=bookings).values_list(
                "contact_id", flat=True
            )
        )
        return cls(
            calls=calls,
            bookings=bookings,
            detainees={d for _b, d, _c in rows if d},
            contacts={c for _b, _d, c in rows if c} | others,
            messages=messages,
            recordings=set(
                Recording.objects.filter(call_id__in=calls).values_list("pk", flat=True)
            ),
        )


# --- The rules, per establishment ------------------------------------------------------


def _anonymise_messages(messages, now) -> int:
    count = 0
    for ids in _batches(list(messages.values_list("pk", flat=True))):
        Attempt.objects.filter(message_id__in=ids).update(detail="", provider_ref="")
        count += Message.objects.filter(pk__in=ids).update(
            text="",
            to_number="",
            spoken_digits="",
            error="",
            provider_ref="",
            contact=None,
            anonymised_at=now,
        )
    return count


def _anonymise_contacts(contacts, now, frozen: Frozen) -> int:
    count = 0
    for ids in _batches(list(contacts.values_list("pk", flat=True))):
        ContactDecision.objects.filter(contact_id__in=ids).update(reason=ERASED)
        _anonymise_messages(
            Message.objects.filter(contact_id__in=ids).exclude(pk__in=frozen.messages), now
        )
        count += AuthorizedContact.objects.filter(pk__in=ids).update(
            first_name="", last_name="", phone_number="", anonymised_at=now
        )
    return count


def _unlink_calls(ids: list[int]) -> int:
    booking_ids = list(Call.objects.filter(pk__in=ids).values_list("booking_id", flat=True))
    Consent.objects.filter(call_id__in=ids).delete()
    CallCode.objects.filter(call_id__in=ids).delete()
    Participant.objects.filter(call_id__in=ids).delete()
    # Whom each relative leg reached: the call's people, like its contact.
    CallRelative.objects.filter(call_id__in=ids).delete()
    CallRoom.objects.filter(call_id__in=ids).update(pin="", secret="")
    CallWarning.objects.filter(call_id__in=ids).update(text=ERASED)
    CallTransition.objects.filter(call_id__in=ids).update(detail="")
    # The recording is gone by now; why staff replayed it, and the holds' notes, may
    # name people.
    ReplaySession.objects.filter(recording__call_id__in=ids).update(reason=ERASED)
    Hold.objects.filter(recording__call_id__in=ids).update(note="")
    count = Call.objects.filter(pk__in=ids).update(
        contact=None, detainee=None, end_detail="", janus_room_pin="", janus_room_secret=""
    )
    _unlink_bookings(booking_ids)
    return count


def _unlink_bookings(ids: list[int]) -> int:
    BookingTransition.objects.filter(booking_id__in=ids).update(reason="", data={})
    BookingContact.objects.filter(booking_id__in=ids).delete()
    return Booking.objects.filter(pk__in=ids).update(contact=None, detainee=None)


def _calls(est: Establishment, now, frozen: Frozen, report: Report) -> None:
    """Calls and their bookings: the figures stay (when, how long, how it ended, where),
    whose call it was goes, with the consents (address, browser), codes, media ids and
    free texts."""
    days = est.call_data_retention_days
    cutoff = now - timedelta(days=days)
    past = Call.objects.filter(
        **{f"{CALL_ESTABLISHMENT}": est}, state__in=Call.FINAL_STATES
    ).filter(Q(ended_at__lt=cutoff) | Q(ended_at__isnull=True, booking__ends_at__lt=cutoff))
    due = past.filter(Q(contact__isnull=False) | Q(detainee__isnull=False))
    held = due.filter(pk__in=frozen.calls).count()
    # While its recording exists (its own retention, stretched by a lifted hold), a call
    # keeps its people: a replay or a judicial export names them.
    due = due.exclude(
        recording__state__in=[
            Recording.State.PENDING,
            Recording.State.PROCESSING,
            Recording.State.READY,
            Recording.State.FAILED,
        ]
    )
    ids = list(due.exclude(pk__in=frozen.calls).values_list("pk", flat=True))
    count = sum(_unlink_calls(batch) for batch in _batches(ids))
    report.lines.append(Line("calls", "unlinked", est.pk, count, cutoff, days, held))

    # Bookings that never became a call (cancelled, absent): the same, from their end.
    bookings = Booking.objects.filter(room__quarter__establishment=est, ends_at__lt=cutoff).filter(
        Q(contact__isnull=False) | Q(detainee__isnull=False)
    )
    bookings = bookings.exclude(Exists(Call.objects.filter(booking=OuterRef("pk"))))
    bookings = bookings.exclude(pk__in=frozen.bookings)
    ids = list(bookings.values_list("pk", flat=True))
    count = sum(_unlink_bookings(batch) for batch in _batches(ids))
    report.lines.append(Line("bookings", "unlinked", est.pk, count, cutoff, days))


def _messages(est: Establishment, now, frozen: Frozen, report: Report) -> None:
    """Codes lose their text once expired; every message loses its number and text after
    the message retention (channel, purpose, outcome and dates stay for the figures)."""
    codes = Message.objects.filter(
        establishment=est,
        purpose=Message.Purpose.CALL_CODE,
        valid_until__lt=now - CODE_TEXT_GRACE,
        anonymised_at__isnull=True,
    ).filter(~Q(text="") | ~Q(spoken_digits=""))
    held = codes.filter(pk__in=frozen.messages).count()
    count = codes.exclude(pk__in=frozen.messages).update(text="", spoken_digits="")
    report.lines.append(Line("code_texts", "erased", est.pk, count, now - CODE_TEXT_GRACE, 0, held))

    days = est.message_retention_days
    cutoff = now - timedelta(days=days)
    # Still queued after weeks, a message is past its use (codes expire in minutes, a
    # booking notice is dropped once its call has passed): it goes the same way.
    due = Message.objects.filter(
        establishment=est, created_at__lt=cutoff, anonymised_at__isnull=True
    )
    held = due.filter(pk__in=frozen.messages).count()
    count = _anonymise_messages(due.exclude(pk__in=frozen.messages), now)
    report.lines.append(Line("messages", "anonymised", est.pk, count, cutoff, days, held))


def _still_linked(model_field: str) -> Q:
    """A person some call or booking still names: its retention has not run out yet."""
    linked = Q(
        Exists(Call.objects.filter(**{model_field: OuterRef("pk")}))
        | Exists(Booking.objects.filter(**{model_field: OuterRef("pk")}))
    )
    if model_field == "contact":
        # A contact named among several (issue #19) is linked as the first one is.
        linked |= Q(
            Exists(CallRelative.objects.filter(contact=OuterRef("pk")))
            | Exists(BookingContact.objects.filter(contact=OuterRef("pk")))
        )
    return linked


def _contacts(est: Establishment, now, frozen: Frozen, report: Report) -> None:
    """Contacts no longer authorized (refused, revoked), counted from the decision."""
    days = est.contact_retention_days
    cutoff = now - timedelta(days=days)
    ended = (
        AuthorizedContact.objects.filter(
            detainee__establishment=est,
            status__in=[AuthorizedContact.Status.REFUSED, AuthorizedContact.Status.REVOKED],
            anonymised_at__isnull=True,
        )
        .annotate(ended_at=Coalesce(Max("decisions__decided_at"), "requested_at"))
        .filter(ended_at__lt=cutoff)
    )
    held = ended.filter(pk__in=frozen.contacts).count()
    due = ended.exclude(pk__in=frozen.contacts).exclude(_still_linked("contact"))
    count = _anonymise_contacts(
        AuthorizedContact.objects.filter(pk__in=due.values("pk")), now, frozen
    )
    report.lines.append(Line("contacts", "anonymised", est.pk, count, cutoff, days, held))


def _detainees(est: Establishment, now, frozen: Frozen, report: Report) -> None:
    """Detainees released or transferred, counted from that day; their contacts with them."""
    days = est.detainee_retention_days
    cutoff = now - timedelta(days=days)
    gone = Detainee.objects.filter(
        establishment=est,
        status__in=[Detainee.Status.RELEASED, Detainee.Status.TRANSFERRED],
        status_changed_at__lt=cutoff,
        anonymised_at__isnull=True,
    )
    held = gone.filter(pk__in=frozen.detainees).count()
    ids = list(
        gone.exclude(pk__in=frozen.detainees)
        .exclude(_still_linked("detainee"))
        .values_list("pk", flat=True)
    )
    count = 0
    for batch in _batches(ids):
        contacts = AuthorizedContact.objects.filter(
            detainee_id__in=batch, anonymised_at__isnull=True
        )
        _anonymise_contacts(contacts.exclude(_still_linked("contact")), now, frozen)
        PhoneAccount.objects.filter(detainee_id__in=batch).update(pin_hash="", active=False)
        Suspension.objects.filter(detainee_id__in=batch).update(reason=ERASED)
        Suspension.objects.filter(detainee_id__in=batch, lifted_at__isnull=False).update(
            lift_reason=ERASED
        )
        for pk in batch:
            # The prison number is unique per establishment: a placeholder of its own.
            count += Detainee.objects.filter(pk=pk).update(
                first_name="", last_name="", prison_number=f"anon-{pk}", anonymised_at=now
            )
    report.lines.append(Line("detainees", "anonymised", est.pk, count, cutoff, days, held))


RULES = (_calls, _messages, _contacts, _detainees)


# --- What is kept for all establishments at once -----------------------------------------


def _global(now, frozen: Frozen, report: Report, actor_label: str) -> None:
    cutoff = now - CODE_ATTEMPT_RETENTION
    count, _ = CodeAttempt.objects.filter(at__lt=cutoff).delete()
    report.lines.append(Line("code_attempts", "deleted", None, count, cutoff, 1))

    count, _ = Session.objects.filter(expire_date__lt=now).delete()
    report.lines.append(Line("sessions", "deleted", None, count, now, 0))

    cutoff = now - SIGN_IN_ATTEMPT_RETENTION
    count = sum(
        model.objects.filter(attempt_time__lt=cutoff).delete()[0]
        for model in (AccessAttempt, AccessFailureLog, AccessLog)
    )
    report.lines.append(
        Line("sign_in_attempts", "deleted", None, count, cutoff, SIGN_IN_ATTEMPT_RETENTION.days)
    )

    _former_staff(now, report)

    days = settings.AUDIT_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    first_recent = AuditEvent.objects.filter(at__gte=cutoff).order_by("seq").first()
    keep_from = first_recent.seq if first_recent else None
    about_held = (
        AuditEvent.objects.filter(
            Q(target_type="Call", target_id__in=[str(pk) for pk in frozen.calls])
            | Q(target_type="Recording", target_id__in=[str(pk) for pk in frozen.recordings])
        )
        .order_by("seq")
        .first()
    )
    held = 0
    if about_held is not None and (keep_from is None or about_held.seq < keep_from):
        held = (keep_from or about_held.seq) - about_held.seq
        keep_from = about_held.seq
    count = 0
    if keep_from is not None:
        pruned = audit_log.prune_before(
            keep_from, actor_label=actor_label, data={"run": str(report.run), "cutoff": cutoff}
        )
        count = pruned.deleted if pruned else 0
    report.lines.append(Line("audit", "deleted", None, count, cutoff, days, held))


def _former_staff(now, report: Report) -> None:
    """Deactivated accounts, once the audit retention has passed since their last sign-in
    (or their creation): by then the audit no longer holds what they did, except about a
    held call, whose rows keep their own label. The row stays, for the rows that point at
    it (decisions, transitions, replays), but it names nobody and cannot sign in."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    days = settings.AUDIT_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    due = StaffUser.objects.filter(is_active=False, anonymised_at__isnull=True).filter(
        Q(last_login__lt=cutoff) | Q(last_login__isnull=True, date_joined__lt=cutoff)
    )
    ids = list(due.values_list("pk", flat=True))
    for pk in ids:
        TOTPDevice.objects.filter(user_id=pk).delete()
        Role.objects.filter(user_id=pk).delete()
        # The user name is unique: a placeholder of its own; "!" is Django's unusable
        # password prefix.
        StaffUser.objects.filter(pk=pk).update(
            username=f"former-{pk}",
            first_name="",
            last_name="",
            email="",
            password=f"!former-{pk}",
            anonymised_at=now,
        )
    report.lines.append(Line("former_staff", "anonymised", None, len(ids), cutoff, days))


# --- The run ------------------------------------------------------------------------------


def _log(report: Report, lines: list[Line], establishment, actor_label: str) -> None:
    done = [line for line in lines if line.count]
    if not done:
        return
    event = audit_log.record(
        "privacy.purged",
        actor_label=actor_label,
        establishment=establishment,
        data={
            "run": str(report.run),
            "counts": {f"{line.category}.{line.action}": line.count for line in done},
        },
    )
    for line in done:
        PurgeLog.objects.create(
            at=report.now,
            run=report.run,
            establishment_id=line.establishment_id,
            category=line.category,
            action=line.action,
            count=line.count,
            cutoff=line.cutoff,
            retention_days=line.retention_days,
            held=line.held,
            actor_label=actor_label,
            audit_seq=event.seq,
        )


def _run(report: Report, establishments, actor_label: str, with_global: bool) -> None:
    frozen = Frozen.now()
    for est in establishments:
        with transaction.atomic():
            start = len(report.lines)
            for rule in RULES:
                rule(est, report.now, frozen, report)
            _log(report, report.lines[start:], est, actor_label)
    if with_global:
        with transaction.atomic():
            start = len(report.lines)
            _global(report.now, frozen, report, actor_label)
            _log(report, report.lines[start:], None, actor_label)


def purge(
    *,
    apply: bool = False,
    now: datetime | None = None,
    establishment: Establishment | None = None,
    actor_label: str = "privacy-purge",
) -> Report:
    """What is due, and with ``apply`` done. Without, nothing changes (see the docstring)."""
    report = Report(run=uuid.uuid4(), applied=apply, now=now or timezone.now())
    establishments = (
        [establishment] if establishment is not None else list(Establishment.objects.all())
    )
    with_global = establishment is None
    if apply:
        _run(report, establishments, actor_label, with_global)
    else:
        with transaction.atomic():
            _run(report, establishments, actor_label, with_global)
            transaction.set_rollback(True)
    if apply:
        log.info(
            "Privacy purge %s: %s",
            report.run,
            ", ".join(f"{line.category} {line.count}" for line in report.lines if line.count)
            or "nothing due",
        )
    return report
