"""The only place that changes bookings and closures.

Each action runs in one transaction, checks the staff actor's rights through
parloir.access, writes its audit event, logs the booking's transition and tells the
relative through notify (messages leave after commit); the layers above follow
through bookings.hooks, in the same transaction. Lock order, to stay clear of
deadlocks: detainee, then contact, then booking rows, then the audit head.
"""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.log import record
from bookings import contacts as booking_contacts
from bookings import hooks, makeup
from bookings.availability import Availability, Refusal, local_day_bounds
from bookings.db import DETAINEE_OVERLAP, overlap_guard_name
from bookings.models import (
    Booking,
    BookingContact,
    BookingNotice,
    BookingTransition,
    Closure,
    Via,
)
from establishments.models import Establishment, Quarter, VideoRoom
from notify.actions import do_send_message
from notify.models import Message
from parloir import access
from parloir.reasons import require_reason
from people.models import AuthorizedContact, Detainee, StaffUser

REFUSALS = {
    Refusal.NOT_PRESENT: _("Cette personne n'est plus présente dans l'établissement."),
    Refusal.NO_ACCOUNT: _("Le compte téléphonique de cette personne n'est pas actif."),
    Refusal.WRONG_QUARTER: _("Ce local n'est pas dans le quartier de cette personne."),
    Refusal.ROOM_OUT_OF_SERVICE: _("Ce local est hors service."),
    Refusal.WRONG_ROOM_KIND: _("Ce local ne convient pas à cet appel (local réservé aux avocats)."),
    Refusal.NOT_ALLOWED_VIA: _("Les règles de ce local ne permettent pas de réserver ainsi."),
    Refusal.NOT_A_SLOT: _("Ce créneau n'existe pas dans les horaires du local."),
    Refusal.TOO_LATE: _("Il est trop tard pour réserver ce créneau."),
    Refusal.TOO_FAR: _("Ce créneau est trop lointain pour être réservé."),
    Refusal.CLOSED: _("Le local est fermé à ce moment-là."),
    Refusal.SUSPENDED: _("Les appels vidéo de cette personne sont suspendus à ce moment-là."),
    Refusal.ROOM_TAKEN: _("Ce créneau vient d'être réservé."),
    Refusal.DETAINEE_BUSY: _("Cette personne a déjà une réservation à ce moment-là."),
    Refusal.WEEKLY_QUOTA: _("Le nombre d'appels autorisés cette semaine est atteint."),
    Refusal.MONTHLY_QUOTA: _("Le nombre d'appels autorisés ce mois-ci est atteint."),
}


def _refuse(code: str) -> ValidationError:
    return ValidationError(REFUSALS[code], code=code)


def _check_side(via: str, actor: StaffUser | None, establishment_id: int, *, capability=None):
    """Staff act under their rights in the establishment; the kiosk acts without a user."""
    if via == Via.STAFF:
        if actor is None:
            raise ValueError("A staff action needs the staff user")
        if capability is None:
            access.require(actor, access.Can.BOOK, establishment_id)
        elif not any(access.can(actor, c, establishment_id) for c in capability):
            raise access.Forbidden(*capability)
    elif via == Via.KIOSK:
        if actor is not None:
            raise ValueError("A kiosk action has no staff user")
    elif via != Via.SYSTEM:
        raise ValueError(f"Unknown side {via!r}")


def _save_guarded(booking: Booking, **save_kwargs) -> None:
    """Save, turning the database's double-booking refusal into a clear error."""
    try:
        with transaction.atomic():
            booking.save(**save_kwargs)
    except IntegrityError as exc:
        if overlap_guard_name(exc) == DETAINEE_OVERLAP:
            raise _refuse(Refusal.DETAINEE_BUSY) from None
        if overlap_guard_name(exc) is not None:
            raise _refuse(Refusal.ROOM_TAKEN) from None
        raise


def _recheck_closures(booking: Booking) -> None:
    # A closure committed while this booking was being written: do_add_closure locks
    # the rooms, so after our insert this read sees any closure that missed it.
    if Closure.objects.filter(
        Closure.covering(booking.room), starts_at__lt=booking.ends_at, ends_at__gt=booking.starts_at
    ).exists():
        raise _refuse(Refusal.CLOSED)


def _transition(
    booking: Booking,
    from_status: str,
    *,
    via: str,
    actor: StaffUser | None,
    reason: str = "",
    moved: bool = False,
    data: dict | None = None,
) -> BookingTransition:
    return BookingTransition.objects.create(
        booking=booking,
        from_status=from_status,
        to_status=booking.status,
        moved=moved,
        via=via,
        by=actor,
        reason=reason,
        data=data or {},
    )


def _audit(action: str, booking: Booking, *, via: str, actor, data: dict | None = None) -> None:
    record(
        action,
        actor=actor,
        actor_label=None if actor else via,
        establishment=booking.room.quarter.establishment_id,
        target=booking,
        data={
            "detainee": booking.detainee_id,
            "contact": booking.contact_id,
            "contacts": [contact.pk for contact in booking.all_contacts()],
            "room": booking.room_id,
            "starts_at": booking.starts_at.isoformat(),
            "ends_at": booking.ends_at.isoformat(),
            "via": via,
            **(data or {}),
        },
    )


# What the relative is told.


def calendar_link(booking: Booking) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("bookings:ics", args=[booking.token])


def _when(moment: datetime, establishment: Establishment) -> dict[str, str]:
    local = timezone.localtime(moment, establishment.zone)
    return {
        "date": formats.date_format(local, "l j F Y"),
        "time": formats.time_format(local, "H:i"),
    }


def message_text(
    booking: Booking,
    purpose: str,
    *,
    previous_start: datetime | None = None,
    contact: AuthorizedContact | None = None,
) -> str:
    """The text for ``contact`` (the booking's first contact by default), in its language.

    It never carries staff's reason for a change: that may be a security matter.
    """
    establishment = booking.room.quarter.establishment
    with translation.override((contact or booking.contact).language):
        params = {
            "name": booking.detainee.first_name,
            "establishment": establishment.name,
            "phone": establishment.contact_phone,
            "link": calendar_link(booking),
            **_when(booking.starts_at, establishment),
        }
        if purpose == Message.Purpose.BOOKING_MADE:
            text = gettext(
                "%(name)s a réservé un appel vidéo avec vous le %(date)s à %(time)s "
                "(heure de l'établissement), depuis %(establishment)s. Vous recevrez un code "
                "au début de l'appel. Ajouter à l'agenda : %(link)s – "
                "Établissement : %(phone)s"
            )
        elif purpose == Message.Purpose.BOOKING_MOVED:
            previous = _when(previous_start, establishment)
            params.update(old_date=previous["date"], old_time=previous["time"])
            text = gettext(
                "L'appel vidéo avec %(name)s prévu le %(old_date)s à %(old_time)s est déplacé "
                "au %(date)s à %(time)s (heure de l'établissement), depuis %(establishment)s. "
                "Ajouter à l'agenda : %(link)s – Établissement : %(phone)s"
            )
        elif purpose == Message.Purpose.BOOKING_CANCELLED:
            text = gettext(
                "L'appel vidéo avec %(name)s prévu le %(date)s à %(time)s (heure de "
                "l'établissement), depuis %(establishment)s, est annulé. "
                "Agenda : %(link)s – Établissement : %(phone)s"
            )
        else:
            raise ValueError(f"No booking text for {purpose!r}")
        return text % params


def _tell(booking: Booking, purpose: str, **kwargs) -> list[Message]:
    """Tell every contact the booking names, each in their own language and channel."""
    messages = []
    for contact in booking.all_contacts():
        message = do_send_message(
            contact,
            purpose=purpose,
            text=message_text(booking, purpose, contact=contact, **kwargs),
            establishment=booking.room.quarter.establishment,
        )
        BookingNotice.objects.create(message=message, booking=booking, sequence=booking.sequence)
        messages.append(message)
    return messages


# Booking.


def _lock_booking(booking: Booking) -> Booking:
    return (
        Booking.objects.select_for_update(of=("self",))
        .select_related("room__quarter__establishment", "detainee", "contact")
        .get(pk=booking.pk)
    )


@transaction.atomic
def do_book(
    detainee: Detainee,
    *,
    room: VideoRoom,
    contact: AuthorizedContact | None = None,
    starts_at: datetime,
    booked_via: str,
    actor: StaffUser | None = None,
    makeup_for=None,
    contacts: list[AuthorizedContact] | None = None,
) -> Booking:
    """Book ``room`` at ``starts_at`` (a slot start) for ``detainee`` to call ``contact``,
    or the ``contacts`` given (one to bookings.contacts.limit, the first one foremost).

    ``booked_via`` is "kiosk" (the detainee himself, no ``actor``) or "staff" (``actor``
    books on his request, with Can.BOOK in his establishment). Every rule is checked
    here; the database has the last word on overlaps. ``makeup_for``, a call owed a
    make-up (bookings.makeup), books outside the quotas.
    """
    if timezone.is_naive(starts_at):
        raise ValueError("starts_at must be aware")
    _check_side(booked_via, actor, detainee.establishment_id)
    if booked_via == Via.SYSTEM:
        raise ValueError("Only the detainee or staff book")
    # Serializes one detainee's bookings, so two at once cannot both fit in his quota.
    detainee = (
        Detainee.objects.select_for_update().select_related("establishment").get(pk=detainee.pk)
    )
    if (contact is None) == (contacts is None):
        raise ValueError("Give contact or contacts")
    named = booking_contacts.lock_and_check(detainee, [contact] if contacts is None else contacts)
    contact = named[0]
    if makeup_for is not None and not makeup.is_owed(makeup_for, detainee):
        raise ValidationError(_("Cet appel de rattrapage n'est plus disponible."), code="makeup")
    room = VideoRoom.objects.select_related("quarter__establishment").get(pk=room.pk)
    day = timezone.localtime(starts_at, detainee.establishment.zone).date()
    engine = Availability(
        detainee,
        day,
        day,
        for_lawyer=booking_contacts.is_for_lawyer(named),
        rooms=[room],
        makeup=makeup_for is not None,
    )
    refusal = engine.refusal(room, starts_at, via=booked_via)
    if refusal:
        raise _refuse(refusal)
    booking = Booking(
        room=room,
        detainee=detainee,
        contact=contact,
        starts_at=starts_at,
        ends_at=engine.slot_end(room, starts_at),
        booked_via=booked_via,
        booked_by=actor,
        tolerance_minutes=engine.rules.for_room(room).call_tolerance_minutes,
        makeup_for=makeup_for,
    )
    _save_guarded(booking)
    BookingContact.objects.bulk_create(
        BookingContact(booking=booking, contact=other, position=position)
        for position, other in enumerate(named[1:], start=1)
    )
    _recheck_closures(booking)
    _transition(booking, "", via=booked_via, actor=actor)
    _audit(
        "booking.made",
        booking,
        via=booked_via,
        actor=actor,
        data={"makeup_for": makeup_for.pk} if makeup_for is not None else None,
    )
    _tell(booking, Message.Purpose.BOOKING_MADE)
    return booking


def _check_cancel_deadline(booking: Booking, via: str) -> None:
    # The deadline binds the detainee; staff may still cancel (incident, security).
    if via != Via.KIOSK:
        return
    from bookings.availability import RulesBook

    rules = RulesBook(booking.room.quarter.establishment).for_room(booking.room)
    if timezone.now() > booking.starts_at - timedelta(minutes=rules.cancel_notice_minutes):
        raise ValidationError(
            _("Il est trop tard pour annuler ou déplacer cette réservation à la borne."),
            code="cancel_deadline",
        )


def _check_transition(booking: Booking, to_status: str) -> None:
    if to_status not in Booking.TRANSITIONS[booking.status]:
        raise ValidationError(
            _("Impossible de passer de « %(from)s » à « %(to)s »."),
            code="transition",
            params={
                "from": Booking.Status(booking.status).label,
                "to": Booking.Status(to_status).label,
            },
        )


# A call under way belongs to the call layer: its rules (the right to control calls, a
# warning first, a category both sides read) are not bypassed through its booking.

CALL_OPEN_NO_CANCEL = _(
    "L'appel de cette réservation est en cours : seule la page de l'appel permet de l'interrompre."
)
CALL_LIVE_NO_CANCEL = _("Votre appel est en cours : raccrochez pour y mettre fin.")
CALL_HELD_NO_SHOW = _(
    "Un appel a eu lieu ou est en cours pour cette réservation : la personne ne peut pas "
    "être déclarée absente."
)


def call_of(booking: Booking, *, lock: bool = False):
    """The booking's call, if the kiosk has opened one (locked when ``lock``)."""
    from calls.models import Call

    calls = Call.objects.filter(booking_id=booking.pk)
    if lock:
        calls = calls.select_for_update()
    return calls.first()


def cancel_refusal(call, via: str) -> ValidationError | None:
    """Why ``call`` keeps its booking from being cancelled on ``via``'s side, if it does.

    Staff stop an open call from its page (calls.actions.do_interrupt), never by
    cancelling its booking. The detainee's own cancellation still ends a call that has
    not begun, as his red button does; a live one he hangs up. The system's
    cancellations (bookings.listeners, closures) end the call on purpose and are not asked.
    """
    if call is None or not call.is_open:
        return None
    if via == Via.STAFF:
        return ValidationError(CALL_OPEN_NO_CANCEL, code="call_open")
    if via == Via.KIOSK and call.state == call.State.LIVE:
        return ValidationError(CALL_LIVE_NO_CANCEL, code="call_live")
    return None


def no_show_refusal(call) -> ValidationError | None:
    """Why ``call`` keeps its booking from being marked "absent", if it does.

    Only a call that never connected leaves room for an absence: the relative did not
    join (or the detainee gave up before), or the relative refused the monitoring. A call
    open, gone live, interrupted by staff, hung up or lost to a platform fault is not.
    """
    if call is None:
        return None
    if (
        call.is_open
        or call.started_at is not None
        or call.state not in (call.State.NO_ANSWER, call.State.REFUSED)
    ):
        return ValidationError(CALL_HELD_NO_SHOW, code="call_held")
    return None


def _cancel(booking: Booking, *, reason: str, via: str, actor, data=None) -> Booking:
    """Cancel a locked booking and tell its contacts; the callers check rights and rules."""
    _check_transition(booking, Booking.Status.CANCELLED)
    booking.status = Booking.Status.CANCELLED
    booking.sequence += 1
    booking.save(update_fields=["status", "sequence"])
    _transition(booking, Booking.Status.BOOKED, via=via, actor=actor, reason=reason, data=data)
    _audit(
        "booking.cancelled", booking, via=via, actor=actor, data={"reason": reason, **(data or {})}
    )
    _tell(booking, Message.Purpose.BOOKING_CANCELLED)
    hooks.booking_cancelled(booking, via=via, actor=actor, reason=reason)
    return booking


@transaction.atomic
def do_cancel_booking(
    booking: Booking, *, reason: str, via: str, actor: StaffUser | None = None
) -> Booking:
    """Cancel on the detainee's side ("kiosk", before the deadline) or staff's ("staff").

    Refused to staff while the booking's call is open, and to the kiosk once it is live
    (cancel_refusal).
    """
    reason = require_reason(reason)
    _check_side(via, actor, booking.room.quarter.establishment_id)
    booking = _lock_booking(booking)
    _check_transition(booking, Booking.Status.CANCELLED)
    if booking.ends_at <= timezone.now():
        raise ValidationError(_("Cette réservation est passée."), code="past")
    _check_cancel_deadline(booking, via)
    # Locked: the call cannot open or go live between this check and the cancellation.
    refusal = cancel_refusal(call_of(booking, lock=True), via)
    if refusal:
        raise refusal
    return _cancel(booking, reason=reason, via=via, actor=actor)


@transaction.atomic
def do_move_booking(
    booking: Booking,
    *,
    starts_at: datetime,
    via: str,
    room: VideoRoom | None = None,
    reason: str = "",
    actor: StaffUser | None = None,
) -> Booking:
    """Move a booking to another slot (and room): same contacts, same calendar link."""
    if timezone.is_naive(starts_at):
        raise ValueError("starts_at must be aware")
    _check_side(via, actor, booking.room.quarter.establishment_id)
    detainee = (
        Detainee.objects.select_for_update()
        .select_related("establishment")
        .get(pk=booking.detainee_id)
    )
    booking = _lock_booking(booking)
    if booking.status != Booking.Status.BOOKED:
        raise ValidationError(_("Seule une réservation à venir peut être déplacée."), code="status")
    if booking.starts_at <= timezone.now():
        raise ValidationError(_("Cette réservation a déjà commencé."), code="started")
    _check_cancel_deadline(booking, via)
    # A call opened early (the kiosk's tolerance) would go on at the old time while its
    # booking said another: stop it from its page first.
    call = call_of(booking, lock=True)
    if call is not None and call.is_open:
        raise ValidationError(CALL_OPEN_NO_CANCEL, code="call_open")
    room = VideoRoom.objects.select_related("quarter__establishment").get(
        pk=(room or booking.room).pk
    )
    day = timezone.localtime(starts_at, detainee.establishment.zone).date()
    engine = Availability(
        detainee,
        day,
        day,
        for_lawyer=booking_contacts.is_for_lawyer(booking.all_contacts()),
        ignore=booking,
        rooms=[room],
    )
    refusal = engine.refusal(room, starts_at, via=via)
    if refusal:
        raise _refuse(refusal)
    previous = {
        "room": booking.room_id,
        "starts_at": booking.starts_at.isoformat(),
        "ends_at": booking.ends_at.isoformat(),
    }
    previous_start = booking.starts_at
    booking.room = room
    booking.starts_at = starts_at
    booking.ends_at = engine.slot_end(room, starts_at)
    booking.tolerance_minutes = engine.rules.for_room(room).call_tolerance_minutes
    booking.sequence += 1
    _save_guarded(
        booking, update_fields=["room", "starts_at", "ends_at", "tolerance_minutes", "sequence"]
    )
    _recheck_closures(booking)
    _transition(
        booking,
        Booking.Status.BOOKED,
        via=via,
        actor=actor,
        reason=reason.strip(),
        moved=True,
        data={"previous": previous},
    )
    _audit("booking.moved", booking, via=via, actor=actor, data={"previous": previous})
    _tell(booking, Message.Purpose.BOOKING_MOVED, previous_start=previous_start)
    return booking


@transaction.atomic
def do_mark_no_show(booking: Booking, *, actor: StaffUser, reason: str = "") -> Booking:
    """The detainee did not come: staff say so once the slot has begun, unless a call
    of the booking is under way or took place (no_show_refusal)."""
    _check_side(
        Via.STAFF,
        actor,
        booking.room.quarter.establishment_id,
        capability=(access.Can.BOOK, access.Can.CONTROL_CALL),
    )
    booking = _lock_booking(booking)
    _check_transition(booking, Booking.Status.NO_SHOW)
    if timezone.now() < booking.starts_at:
        raise ValidationError(_("Ce créneau n'a pas encore commencé."), code="not_started")
    refusal = no_show_refusal(call_of(booking, lock=True))
    if refusal:
        raise refusal
    booking.status = Booking.Status.NO_SHOW
    booking.save(update_fields=["status"])
    reason = (reason or "").strip()
    _transition(booking, Booking.Status.BOOKED, via=Via.STAFF, actor=actor, reason=reason)
    _audit("booking.no_show", booking, via=Via.STAFF, actor=actor, data={"reason": reason})
    return booking


@transaction.atomic
def do_complete_booking(booking: Booking, *, actor: StaffUser | None = None) -> Booking:
    """The call took place: the call layer says so when it ends."""
    booking = _lock_booking(booking)
    _check_transition(booking, Booking.Status.COMPLETED)
    booking.status = Booking.Status.COMPLETED
    booking.save(update_fields=["status"])
    via = Via.STAFF if actor else Via.SYSTEM
    _transition(booking, Booking.Status.BOOKED, via=via, actor=actor)
    _audit("booking.completed", booking, via=via, actor=actor)
    return booking


# The demonstration's bookings (parloir/demo_extensions.py): a demo loaded at any time of
# day must be able to call at once, and again after its call, so its bookings run from
# the minute they are made, off the slot grid and the opening hours. Nothing else uses
# these two.


@transaction.atomic
def do_book_demo_call(
    detainee: Detainee,
    *,
    room: VideoRoom,
    contact: AuthorizedContact,
    starts_at: datetime,
    ends_at: datetime,
    actor: StaffUser,
) -> Booking:
    """A demonstration booking from ``starts_at`` (now) to ``ends_at``. Staff-side and
    audited; the relative is not told, since the call's code will tell them."""
    _check_side(Via.STAFF, actor, detainee.establishment_id)
    if not starts_at < ends_at:
        raise ValueError("A booking ends after it starts")
    contact = AuthorizedContact.objects.select_for_update().get(pk=contact.pk)
    if contact.detainee_id != detainee.pk or not contact.is_approved:
        raise ValidationError(
            _("Ce contact n'est pas autorisé pour cette personne détenue."), code="contact"
        )
    booking = Booking(
        room=room,
        detainee=detainee,
        contact=contact,
        starts_at=starts_at,
        ends_at=ends_at,
        booked_via=Via.STAFF,
        booked_by=actor,
    )
    _save_guarded(booking)
    _transition(booking, "", via=Via.STAFF, actor=actor, reason="demo")
    _audit("booking.made", booking, via=Via.STAFF, actor=actor, data={"demo": True})
    return booking


@transaction.atomic
def do_release_demo_booking(booking: Booking, *, at: datetime, actor: StaffUser) -> Booking:
    """A demonstration booking under way gives its room and its detainee back at ``at``
    (now), so that a new one can start then: the database keeps every booking but a
    cancelled one from overlapping another. Refused while its call is open. One never
    called from is recorded as an absence and ends at ``at``, as does one whose call took
    place; any other is cancelled (without telling the relative: a demo)."""
    _check_side(Via.STAFF, actor, booking.room.quarter.establishment_id)
    booking = _lock_booking(booking)
    call = call_of(booking, lock=True)
    if call is not None and call.is_open:
        raise ValidationError(CALL_OPEN_NO_CANCEL, code="call_open")
    if booking.status == Booking.Status.CANCELLED or booking.ends_at <= at:
        return booking
    previous = booking.status
    if booking.status == Booking.Status.BOOKED:
        can_be_absent = booking.starts_at < at and no_show_refusal(call) is None
        booking.status = Booking.Status.NO_SHOW if can_be_absent else Booking.Status.CANCELLED
    data = {"demo": True, "previous_end": booking.ends_at.isoformat()}
    if booking.status != Booking.Status.CANCELLED:
        booking.ends_at = at
    booking.save(update_fields=["status", "ends_at"])
    if booking.status != previous:
        _transition(booking, previous, via=Via.STAFF, actor=actor, reason="demo", data=data)
    _audit("booking.released", booking, via=Via.STAFF, actor=actor, data=data)
    return booking


def cancel_future_bookings(
    bookings, *, reason: str, actor: StaffUser | None, data=None, spare_open_calls: bool = False
) -> int:
    """Cancel the bookings not yet begun among ``bookings`` and tell their contacts.

    Used by closures and by bookings.listeners; a booking under way is left to the
    call layer, which checks suspensions and contacts when a call starts. With
    ``spare_open_calls`` (closures), so is a booking whose call opened early: adding a
    closure is no way around the call layer's rules for stopping a call.
    """
    from calls.models import Call

    via = Via.STAFF if actor else Via.SYSTEM
    count = 0
    locked = list(
        bookings.filter(status=Booking.Status.BOOKED, starts_at__gt=timezone.now())
        .select_for_update(of=("self",))
        .select_related("room__quarter__establishment", "detainee", "contact")
        .order_by("starts_at", "pk")
    )
    # The bookings are locked, and do_start_call locks its booking: no call opens meanwhile.
    spared = (
        set(
            Call.objects.filter(booking__in=locked, state__in=Call.OPEN_STATES).values_list(
                "booking_id", flat=True
            )
        )
        if spare_open_calls
        else set()
    )
    for booking in locked:
        if booking.pk in spared:
            continue
        _cancel(booking, reason=reason, via=via, actor=actor, data=data)
        count += 1
    return count


# Closures.


def _as_range(
    establishment: Establishment, starts: datetime | date, ends: datetime | date
) -> tuple[datetime, datetime]:
    """Aware datetimes pass through; local dates cover whole local days, inclusive."""
    if not isinstance(starts, datetime):
        starts, _ = local_day_bounds(starts, establishment.zone)
    if not isinstance(ends, datetime):
        _, ends = local_day_bounds(ends, establishment.zone)
    if timezone.is_naive(starts) or timezone.is_naive(ends):
        raise ValueError("Closure times must be aware (or be dates)")
    return starts, ends


@transaction.atomic
def do_add_closure(
    establishment: Establishment,
    *,
    kind: str,
    starts: datetime | date,
    ends: datetime | date,
    reason: str,
    actor: StaffUser | None,
    quarter: Quarter | None = None,
    room: VideoRoom | None = None,
) -> Closure:
    """Close a room, a quarter or the whole establishment, and cancel what it covers.

    ``starts``/``ends`` are aware instants, or local dates meaning whole days
    (a public holiday is ``starts=ends=that day``).
    """
    reason = require_reason(reason)
    if actor is not None:
        access.require(actor, access.Can.BOOK, establishment)
    starts_at, ends_at = _as_range(establishment, starts, ends)
    if ends_at <= starts_at:
        raise ValidationError(
            _("La fin de la fermeture doit suivre son début."), code="closure_order"
        )
    if quarter and room:
        raise ValueError("A closure covers a quarter or a room, not both")
    if (quarter and quarter.establishment_id != establishment.pk) or (
        room and room.quarter.establishment_id != establishment.pk
    ):
        raise ValidationError(_("Ce lieu n'est pas dans l'établissement."), code="place")
    rooms = VideoRoom.objects.filter(quarter__establishment=establishment)
    if quarter:
        rooms = rooms.filter(quarter=quarter)
    if room:
        rooms = rooms.filter(pk=room.pk)
    # FOR UPDATE on the rooms waits for bookings being written in them (their foreign
    # key holds a share lock) and holds new ones back until this closure commits.
    room_ids = list(rooms.select_for_update().values_list("pk", flat=True))
    closure = Closure(
        establishment=establishment,
        quarter=quarter,
        room=room,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by=actor,
    )
    closure.full_clean()
    closure.save()
    record(
        "closure.added",
        actor=actor,
        establishment=establishment,
        target=closure,
        data={
            "kind": kind,
            "quarter": getattr(quarter, "pk", None),
            "room": getattr(room, "pk", None),
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "reason": reason,
        },
    )
    cancel_future_bookings(
        Booking.objects.filter(room__in=room_ids, starts_at__lt=ends_at, ends_at__gt=starts_at),
        reason=reason,
        actor=actor,
        data={"closure": closure.pk},
        spare_open_calls=True,
    )
    return closure
