"""The only write path for calls: the state machine, codes, consents, ends and charges.

Every function runs in a transaction; events and messages leave after commit.
"""

import hmac
import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.log import record
from bookings import contacts as booking_contacts
from bookings.actions import do_complete_booking
from bookings.availability import call_deadline, can_start_call
from bookings.models import Booking
from calls import codes
from calls.events import broadcast_state, call_group, send_event
from calls.models import (
    Call,
    CallCode,
    CallRelative,
    CallRoom,
    CallTransition,
    CallWarning,
    CodeAttempt,
    CodeGate,
    Consent,
    MediaOutage,
    Participant,
)
from notify import sms
from notify.actions import channel_for, do_send_message
from notify.models import Message
from ops import metrics as ops_metrics
from parloir.reasons import require_reason
from people.models import AuthorizedContact, Detainee, LedgerEntry

logger = logging.getLogger("parloir.security")

CONSENT_VERSIONS = {
    Consent.Kind.TERMS: "2026-11",
    Consent.Kind.PRIVACY: "2026-11",
    Consent.Kind.MONITORING: "2026-11",
}

S = Call.State
R = Call.EndReason

# Which final state each end reason leads to.
FINAL_STATE_FOR = {
    R.TIME_UP: S.ENDED,
    R.HUNG_UP_DETAINEE: S.ENDED,
    R.HUNG_UP_RELATIVE: S.ENDED,
    R.STAFF: S.INTERRUPTED,
    R.SUSPENDED: S.INTERRUPTED,
    R.NO_ANSWER: S.NO_ANSWER,
    R.CANCELLED: S.NO_ANSWER,
    R.REFUSED_MONITORING: S.REFUSED,
    R.MEDIA_FAILURE: S.MEDIA_FAILED,
}


class CallRefused(ValidationError):
    """The kiosk cannot start this call; the message says why, for the detainee."""


def _lock(call: Call) -> Call:
    return Call.objects.select_for_update().select_related("booking__room__quarter").get(pk=call.pk)


def _establishment_id(call: Call) -> int:
    return call.booking.room.quarter.establishment_id


def _transition(call: Call, to_state: str, *, by: str, staff=None, detail: str = "") -> Call:
    """Move a locked call to ``to_state`` and log it; the caller holds the row lock."""
    if to_state not in Call.TRANSITIONS[call.state]:
        raise ValidationError(
            f"Call {call.pk}: {call.state} -> {to_state} is not allowed", code="transition"
        )
    CallTransition.objects.create(
        call=call,
        from_state=call.state,
        to_state=to_state,
        by_staff=staff,
        by_label=by[:200],
        detail=detail[:300],
    )
    ops_metrics.call_moved(call, to_state)
    call.state = to_state
    return call


def check_can_call(
    booking: Booking,
    contact: AuthorizedContact,
    at=None,
    *,
    named: list[AuthorizedContact] | None = None,
) -> None:
    """Everything the kiosk checks before "Appeler"; raises CallRefused with the reason.
    ``named``: the booking's contacts, ``contact`` first, when the caller has read them."""
    at = at or timezone.now()
    detainee: Detainee = booking.detainee
    establishment = booking.room.quarter.establishment
    account = getattr(detainee, "account", None)
    if detainee.status != Detainee.Status.PRESENT:
        raise CallRefused(_("Votre compte ne permet plus d'appeler."), code="not_present")
    if account is None or not account.active:
        raise CallRefused(_("Votre compte téléphonique n'est pas actif."), code="account_inactive")
    if detainee.active_suspension(at) is not None:
        raise CallRefused(_("Votre accès aux appels vidéo est suspendu."), code="suspended")
    if named is None:
        others = booking.other_contacts.select_related("contact")
        named = [contact, *(row.contact for row in others)]
    for someone in named:
        if (
            someone.detainee_id != detainee.pk
            or someone.status != AuthorizedContact.Status.APPROVED
        ):
            raise CallRefused(_("Ce contact n'est pas autorisé."), code="contact_not_approved")
    # A booking naming several contacts (issue #19) is called only once the call layer
    # reaches them all: a call never leaves a named relative without a code.
    if len(named) > settings.CALL_RELATIVES_SUPPORTED:
        raise CallRefused(
            _("Cet appel à plusieurs proches n'est pas encore possible."), code="several_contacts"
        )
    if not booking.room.in_service:
        raise CallRefused(_("Le local de visiophonie est hors service."), code="room_closed")
    if booking.status != Booking.Status.BOOKED or not can_start_call(booking, at):
        raise CallRefused(_("Aucune réservation ne commence maintenant."), code="not_now")
    if not establishment.calls_are_free:
        # At least one minute must be payable; the call ends when credit runs out (_paid_until).
        if account.balance_cents() < establishment.price_per_minute_cents:
            raise CallRefused(_("Votre crédit est insuffisant."), code="balance")


def _code_text(call: Call, leg: CallRelative, code: str, minutes: int) -> str:
    """The code message, in the contact's language and in one SMS (docs/i18n.md).

    The first wording that fits one SMS as the gateway sends it: with the link that fills
    the code in; else the site's address (a language written outside GSM 7-bit, such as
    Arabic or Russian, leaves 70 characters: no room for a link); else the code alone.
    The code always comes last.
    """
    site = settings.SITE_URL.rstrip("/")
    params = {
        "name": call.detainee.first_name,
        "link": f"{site}/j/{leg.link_token or call.link_token}#{code}",
        "site": site.partition("://")[2] or site,
        "minutes": minutes,
        "code": code,
    }
    with translation.override(leg.contact.language):
        wordings = [
            _(
                "parloir : appel vidéo avec %(name)s. Ouvrez %(link)s "
                "et entrez sous %(minutes)s min le code %(code)s"
            ),
            _("parloir : sur %(site)s, entrez sous %(minutes)s min le code %(code)s"),
            _("parloir : code valable %(minutes)s min : %(code)s"),
        ]
    texts = [wording % params for wording in wordings]
    return next((text for text in texts if sms.shape(sms.prepare(text)).segments == 1), texts[-1])


def legs(call: Call) -> list[CallRelative]:
    """The call's relative legs, in the booking's order. A call written without one
    (before legs) gets its first here, from its contact."""
    found = list(CallRelative.objects.filter(call=call).select_related("contact"))
    if not found and call.contact_id is not None:
        found = [
            CallRelative.objects.create(
                call=call, position=0, contact_id=call.contact_id, link_token=call.link_token
            )
        ]
    return found


def first_leg(call: Call) -> CallRelative:
    """The leg of the booking's first contact: the one relative of a call of one."""
    return legs(call)[0]


def _leg_or_first(call: Call, leg: CallRelative | None) -> CallRelative:
    if leg is None:
        return first_leg(call)
    if leg.call_id != call.pk:
        raise ValueError(f"leg {leg.pk} is not a leg of call {call.pk}")
    return leg


def _expected_legs(call: Call, *, but: CallRelative | None = None) -> list[CallRelative]:
    """Legs still in the call or still expected in it: not refused, gone or removed."""
    return [leg for leg in legs(call) if not leg.out and (but is None or leg.pk != but.pk)]


def _issue_code(call: Call, leg: CallRelative, *, announce: bool = True) -> tuple[CallCode, str]:
    """A new code for one relative, by their own channel; their earlier codes die."""
    now = timezone.now()
    call.codes.filter(relative=leg, voided_at__isnull=True).update(voided_at=now)
    establishment = call.booking.room.quarter.establishment
    minutes = establishment.code_validity_minutes
    while True:
        code = codes.new_code()
        code_hash = codes.hash_code(code)
        # Two open calls must never share a code: a typed code has to name one call. A
        # used or expired code still names its call until the call ends and voids it,
        # since the relative re-enters with it after a drop.
        if not CallCode.objects.filter(code_hash=code_hash, voided_at__isnull=True).exists():
            break
    call_code = CallCode.objects.create(
        call=call,
        relative=leg,
        code_hash=code_hash,
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    # Queued before the message: notify reports each later status (calls/code_messages.py), and
    # events leave after commit in the order they were queued.
    if announce:
        send_event(
            [call_group(call.pk)],
            {
                "type": "call.code",
                "call": call.pk,
                "expires_at": call_code.expires_at.isoformat(),
                "message_status": Message.Status.QUEUED,
                "channel": channel_for(leg.contact.line_type),
                "relative": leg.position,
            },
        )
    message = do_send_message(
        leg.contact,
        purpose=Message.Purpose.CALL_CODE,
        text=_code_text(call, leg, code, minutes),
        establishment=establishment,
        spoken_digits=code,
        valid_until=call_code.expires_at,
    )
    call_code.message = message
    call_code.save(update_fields=["message"])
    return call_code, code


@transaction.atomic
def do_start_call(booking: Booking, *, device_label: str) -> Call:
    """The detainee pressed "Appeler": check everything, open the call and send the code."""
    # Lock the booking row only: PostgreSQL cannot lock the nullable side of the
    # join to the account, and the booking is what two kiosks could race on.
    booking = (
        Booking.objects.select_for_update(of=("self",))
        .select_related("room__quarter__establishment", "detainee__account", "contact")
        .get(pk=booking.pk)
    )
    contact = booking.contact
    # Read once: the checks, the lawyer's privilege and the legs all need them.
    named = booking.all_contacts()
    check_can_call(booking, contact, named=named)
    call = Call.objects.select_for_update().filter(booking=booking).first()
    if call is not None and not call.is_open:
        raise CallRefused(_("L'appel de ce créneau est terminé."), code="call_over")
    if call is None:
        # Calls with lawyers are never recorded nor monitored. The room's flag alone is not
        # enough: a lawyer's booking can sit in a room that is not (or no longer) reserved
        # for lawyers, and it is the contact that makes the call privileged.
        with_lawyer = booking.room.for_lawyers or booking_contacts.is_for_lawyer(named)
        call = Call.objects.create(
            booking=booking,
            contact=contact,
            detainee=booking.detainee,
            link_token=codes.new_token()[:16],
            recorded=not with_lawyer,
            # Until the conversation starts, only the slot's end bounds the call.
            deadline=booking.ends_at,
        )
        # One leg per contact the booking names (check_can_call: as many as a call
        # reaches), in the booking's order.
        CallRelative.objects.bulk_create(
            CallRelative(
                call=call,
                contact=someone,
                position=position,
                # Leg 0's link is the call's (one relative: the same link as always).
                link_token=call.link_token if position == 0 else codes.new_token()[:16],
            )
            for position, someone in enumerate(named)
        )
    if call.state in (S.RELATIVE_JOINED, S.LIVE):
        return call
    if call.state == S.BOOKED:
        _transition(call, S.CALLING, by=device_label)
        # Calling again after every relative refused: each is asked again.
        call.relatives.filter(removed_at=None).update(refused_at=None)
    for leg in _expected_legs(call):
        _issue_code(call, leg)
    _transition(call, S.CODE_SENT, by=device_label)
    call.save(update_fields=["state"])
    broadcast_state(call, booking.room.quarter.establishment_id)
    # Last: the audit chain's head stays locked until COMMIT, and twenty kiosks pressing
    # "Appeler" together queue on it.
    record(
        "call.started",
        establishment=booking.room.quarter.establishment_id,
        target=call,
        actor_label=f"kiosk:{device_label}",
        data={"booking": booking.pk, "contact": contact.pk},
    )
    return call


@transaction.atomic
def do_send_new_code(call: Call, *, device_label: str) -> CallCode:
    call = _lock(call)
    if call.state not in (S.BOOKED, S.CALLING, S.CODE_SENT):
        raise CallRefused(_("Un nouveau code ne peut plus être envoyé."), code="too_late")
    check_can_call(call.booking, call.contact)
    if call.state == S.BOOKED:
        # Calling again after the relatives refused: the same call, new codes.
        _transition(call, S.CALLING, by=device_label, detail="called again")
        call.relatives.filter(removed_at=None).update(refused_at=None)
    # A new code for each relative who has not come in with a code still good (those who
    # have are in; after every relative refused, all codes died and everyone is asked).
    entered = set(
        call.codes.filter(used_at__isnull=False, voided_at__isnull=True).values_list(
            "relative_id", flat=True
        )
    )
    waited = [leg for leg in _expected_legs(call) if leg.pk not in entered]
    issued = [_issue_code(call, leg)[0] for leg in waited]
    _transition(call, S.CODE_SENT, by=device_label, detail="new code")
    call.save(update_fields=["state"])
    broadcast_state(call, _establishment_id(call))
    return issued[0] if issued else call.codes.first()


@dataclass
class Redeemed:
    call: Call | None
    rejoin: bool = False


class CodeRejected(Exception):
    """Always the same message, whatever was wrong, so nothing leaks."""


def _failed(client: str, call_code: CallCode | None, *, typed: bool) -> None:
    CodeAttempt.objects.create(client=client, succeeded=False, typed=typed)
    if call_code is not None:
        CallCode.objects.filter(pk=call_code.pk).update(failed_attempts=F("failed_attempts") + 1)
        CallCode.objects.filter(
            pk=call_code.pk,
            failed_attempts__gte=codes.MAX_FAILED_ATTEMPTS_PER_CALL,
            voided_at__isnull=True,
        ).update(voided_at=timezone.now())


def _typed_entry_open(now) -> bool:
    """Whether a code typed without the link may be looked up now, across all addresses.

    Such a guess is tried against every live code, so the number of them that fail in
    any hour is bounded whoever sends them; the gate row's lock makes the count exact
    under concurrent guesses. When the limit is reached, staff are alerted once.
    """
    gate, _created = CodeGate.objects.select_for_update().get_or_create(pk=1)
    failures = CodeAttempt.objects.filter(
        typed=True, succeeded=False, at__gte=now - timedelta(hours=1)
    ).count()
    if failures < codes.typed_failures_per_hour():
        return True
    if gate.tripped_at is None or gate.tripped_at < now - timedelta(hours=1):
        gate.tripped_at = now
        gate.save(update_fields=["tripped_at"])
        record(
            "code.typed_entry_closed",
            actor_label="system",
            data={"failures_last_hour": failures, "limit": codes.typed_failures_per_hour()},
        )
        logger.error(
            "Code guessing suspected: %s wrong codes typed in the last hour, from all "
            "addresses; codes typed without the SMS link are refused until it calms down.",
            failures,
        )
    else:
        gate.tripped_at = now
        gate.save(update_fields=["tripped_at"])
    return False


def typed_entry_closed_since(now=None):
    """When typed entry was last closed by the global limit, if within the last hour."""
    now = now or timezone.now()
    gate = CodeGate.objects.filter(pk=1, tripped_at__gte=now - timedelta(hours=1)).first()
    return gate.tripped_at if gate else None


def do_redeem_code(
    raw_code: str, *, client: str, link_token: str | None = None, seat: str = ""
) -> Call:
    """do_redeem_code_for_leg, for who needs the call only."""
    return do_redeem_code_for_leg(raw_code, client=client, link_token=link_token, seat=seat).call


def do_redeem_code_for_leg(
    raw_code: str, *, client: str, link_token: str | None = None, seat: str = ""
) -> CallRelative:
    """Check a code typed by a relative; return their leg of the call (with its call) or
    raise CodeRejected.

    ``seat`` is the hash of the browser's seat cookie (codes.seat_hash): the first use
    binds the code to it, and only that browser comes back with a used code.

    Failed attempts are committed even though the caller sees an exception: that is
    what makes the limits hold.
    """
    now = timezone.now()
    client = codes.client_key(client)
    typed = not link_token
    with transaction.atomic():
        if typed and not _typed_entry_open(now):
            _failed(client, None, typed=typed)
            ok = False
            call_code = None
        else:
            ok, call_code = _check_code(raw_code, client, link_token, seat, now)
            if not ok:
                _failed(client, call_code, typed=typed)
    if not ok:
        raise CodeRejected
    with transaction.atomic():
        CodeAttempt.objects.create(client=client, succeeded=True, typed=typed)
        CallCode.objects.filter(pk=call_code.pk, used_at__isnull=True).update(
            used_at=now, seat_hash=seat
        )
    call = Call.objects.get(pk=call_code.call_id)
    leg = call_code.relative or first_leg(call)
    leg.call = call
    return leg


def _check_code(raw_code, client, link_token, seat, now) -> tuple[bool, CallCode | None]:
    window = now - timedelta(minutes=codes.CLIENT_WINDOW_MINUTES)
    recent_failures = CodeAttempt.objects.filter(
        client=client, succeeded=False, at__gte=window
    ).count()
    code = codes.normalize(raw_code)
    call_code = None
    if link_token:
        # The latest code sent to the relative whose link this is.
        call_code = (
            CallCode.objects.select_for_update()
            .filter(relative__link_token=link_token)
            .order_by("-created_at")
            .first()
        )
    elif code is not None:
        call_code = (
            CallCode.objects.select_for_update()
            .filter(code_hash=codes.hash_code(code), voided_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
    if recent_failures >= codes.MAX_FAILED_ATTEMPTS_PER_CLIENT:
        return False, None
    ok = (
        code is not None
        and call_code is not None
        and call_code.voided_at is None
        and codes.matches(code, call_code.code_hash)
    )
    if not ok:
        return False, call_code
    call = Call.objects.get(pk=call_code.call_id)
    if call_code.relative_id is not None and (
        CallRelative.objects.get(pk=call_code.relative_id).out
    ):
        # This relative refused, hung up or was removed: not back in this call.
        return False, call_code
    if call_code.used_at is None:
        # A code sent at the relative's request lets a new device into a call under way.
        return call_code.expires_at > now and call.state in RELATIVE_MAY_ENTER, call_code
    # Re-entry after a drop: only the browser that used the code, until the call is over.
    same_browser = bool(seat) and hmac.compare_digest(seat, call_code.seat_hash)
    return (
        same_browser and call.is_open and call.deadline is not None and call.deadline > now
    ), call_code


RELATIVE_MAY_ENTER = (S.CODE_SENT, S.RELATIVE_JOINED, S.LIVE)


def current_seat(call: Call, leg: CallRelative | None = None) -> str:
    """The browser that holds a relative's place: the one that used their latest code."""
    leg = _leg_or_first(call, leg)
    return (
        CallCode.objects.filter(call=call, relative=leg, used_at__isnull=False)
        .order_by("-used_at", "-pk")
        .values_list("seat_hash", flat=True)
        .first()
        or ""
    )


class CodeRequestRefused(Exception):
    """No new code now (too many, too soon, or the call is over); the page says it neutrally."""


@transaction.atomic
def do_send_code_to_relative(call: Call, leg: CallRelative | None = None) -> CallCode:
    """The relative asked, from the SMS link's page, for a new code on their phone.

    It is how a new device joins (a dead phone, another browser): the code goes to the
    contact's own number, never to the page, and the new device then gives the consents.
    """
    call = _lock(call)
    leg = _leg_or_first(call, leg)
    now = timezone.now()
    if call.state not in RELATIVE_MAY_ENTER or call.deadline is None or call.deadline <= now:
        raise CodeRequestRefused
    if leg.out:
        raise CodeRequestRefused
    requested = call.codes.filter(relative=leg, requested_by_relative=True)
    if requested.count() >= codes.MAX_RELATIVE_REQUESTS_PER_CALL:
        raise CodeRequestRefused
    last = requested.order_by("-created_at").first()
    if last is not None and (now - last.created_at).total_seconds() < (
        codes.RELATIVE_REQUEST_INTERVAL_SECONDS
    ):
        raise CodeRequestRefused
    # Once the relative has joined, the kiosk's screen shows the call, not a code's status.
    call_code, _code = _issue_code(call, leg, announce=call.state == S.CODE_SENT)
    call_code.requested_by_relative = True
    call_code.save(update_fields=["requested_by_relative"])
    record(
        "call.code_requested_by_relative",
        establishment=_establishment_id(call),
        target=call,
        actor_label="relative",
        data={"relative": leg.position},
    )
    return call_code


@transaction.atomic
def do_record_consent(
    call: Call,
    kind: str,
    *,
    accepted: bool,
    client_ip: str | None,
    user_agent: str,
    language: str,
    seat: str = "",
    leg: CallRelative | None = None,
) -> Call:
    """One relative accepts or refuses one text. A refusal takes that relative out of
    the call; the call goes on for the others."""
    call = _lock(call)
    leg = _leg_or_first(call, leg)
    Consent.objects.create(
        seat_hash=seat,
        call=call,
        relative=leg,
        kind=kind,
        text_version=CONSENT_VERSIONS[kind],
        accepted=accepted,
        client_ip=client_ip,
        user_agent=user_agent[:300],
        language=language,
    )
    if accepted or not call.is_open or leg.out:
        return call
    now = timezone.now()
    others = _expected_legs(call, but=leg)
    if call.state == S.CODE_SENT and not others:
        # The last relative expected refused before joining: the slot is not burnt, the
        # call goes back to booked, the codes die with it, and the detainee may call again.
        CallCode.objects.filter(call=call, voided_at__isnull=True).update(voided_at=now)
        CallRelative.objects.filter(pk=leg.pk).update(refused_at=now)
        _transition(call, S.BOOKED, by="relative", detail=f"refused {kind}")
        call.save(update_fields=["state"])
        record(
            "call.refused",
            actor_label="relative",
            establishment=_establishment_id(call),
            target=call,
            data={"consent": kind, "relative": leg.position},
        )
        broadcast_state(call, _establishment_id(call))
    elif not others:
        # The only relative left went back to the consent pages mid-call and refused:
        # that ends the call as leaving it.
        CallRelative.objects.filter(pk=leg.pk).update(refused_at=now)
        _end_locked(call, R.HUNG_UP_RELATIVE, by="relative", detail=f"refused {kind}")
    else:
        # Others are in the call or still expected: only this relative is out of it.
        _leg_out(call, leg, "refused_at", now)
        record(
            "call.refused",
            actor_label="relative",
            establishment=_establishment_id(call),
            target=call,
            data={"consent": kind, "relative": leg.position},
        )
    return call


def _leg_out(call: Call, leg: CallRelative, field: str, now, **extra) -> None:
    """One relative is out of the call (refused, hung up, removed): their codes die,
    their page leaves, and every page of the call hears it."""
    CallRelative.objects.filter(pk=leg.pk).update(**{field: now}, **extra)
    setattr(leg, field, now)
    CallCode.objects.filter(call=call, relative=leg, voided_at__isnull=True).update(voided_at=now)
    page = Participant.objects.filter(call=call, relative=leg, left_at__isnull=True).first()
    Participant.objects.filter(call=call, relative=leg, left_at__isnull=True).update(left_at=now)
    send_event(
        [call_group(call.pk)],
        {
            "type": "call.relative_out",
            "call": call.pk,
            "relative": leg.position,
            "why": field.removesuffix("_at"),
            "feed": page.feed_id if page else None,
            "janus_session": page.janus_session if page else None,
        },
    )
    broadcast_state(call, _establishment_id(call))


def has_all_consents(call: Call, seat: str | None = None, leg: CallRelative | None = None) -> bool:
    """Every current text accepted by a relative (the first when ``leg`` is not given);
    by the browser ``seat`` when given."""
    leg = _leg_or_first(call, leg)
    consents = call.consents.filter(
        relative=leg, accepted=True, text_version__in=CONSENT_VERSIONS.values()
    )
    if seat is not None:
        consents = consents.filter(seat_hash=seat) if seat else consents.none()
    accepted = set(consents.values_list("kind", flat=True))
    return accepted >= set(CONSENT_VERSIONS)


@transaction.atomic
def do_relative_waiting(call: Call, leg: CallRelative | None = None) -> Call:
    """A relative has given every consent and waits for the detainee: the first to do so
    moves the call on."""
    call = _lock(call)
    if call.state == S.CODE_SENT and has_all_consents(call, leg=leg):
        _transition(call, S.RELATIVE_JOINED, by="relative")
        call.save(update_fields=["state"])
        broadcast_state(call, _establishment_id(call))
    return call


@transaction.atomic
def do_mark_media_up(call: Call, role: str, leg: CallRelative | None = None) -> Call:
    """One side's media reached Janus; when both have, the conversation starts."""
    call = _lock(call)
    pages = Participant.objects.filter(call=call, role=role, left_at__isnull=True)
    if role == Participant.Role.RELATIVE:
        pages = pages.filter(relative=_leg_or_first(call, leg))
    pages.update(media_up=True)
    up = set(
        Participant.objects.filter(
            call=call, role__in=["kiosk", "relative"], left_at__isnull=True, media_up=True
        ).values_list("role", flat=True)
    )
    # The conversation starts (and media is back after an outage) once the detainee and
    # one relative are up: the others join it when they come.
    both_up = up == {"kiosk", "relative"}
    if both_up and call.state == S.RELATIVE_JOINED:
        now = timezone.now()
        _transition(call, S.LIVE, by="media")
        call.started_at = now
        call.deadline = call_deadline(call.booking, started_at=now)
        paid_until = _paid_until(call, now)
        if paid_until is not None and paid_until < call.deadline:
            call.deadline = paid_until
        call.save(update_fields=["state", "started_at", "deadline"])
        broadcast_state(call, _establishment_id(call))
    elif both_up and call.state == S.LIVE:
        outage = MediaOutage.objects.filter(call=call, ended_at__isnull=True).first()
        if outage is not None:
            _close_outage(call, outage, timezone.now(), give_back=True)
            broadcast_state(call, _establishment_id(call))
    return call


def _paid_until(call: Call, started_at):
    """Where the detainee's credit runs out, for a charged call: the call ends there, and
    both screens count down to it from the start."""
    establishment = call.booking.room.quarter.establishment
    if establishment.calls_are_free or establishment.price_per_minute_cents <= 0:
        return None
    minutes = call.detainee.account.balance_cents() // establishment.price_per_minute_cents
    return started_at + timedelta(minutes=minutes)


def _charge(call: Call) -> None:
    establishment = call.booking.room.quarter.establishment
    if establishment.calls_are_free or call.started_at is None:
        return
    # The worker ends a call a fraction of a second after its deadline: that is not a
    # minute more of the family's money.
    ended_at = min(call.ended_at, call.deadline) if call.deadline else call.ended_at
    # Time without media by the platform's fault is never the family's to pay.
    outage_seconds = sum(outage.seconds for outage in call.outages.filter(ended_at__isnull=False))
    used_seconds = max(0, (ended_at - call.started_at).total_seconds() - outage_seconds)
    minutes = math.ceil(used_seconds / 60)
    if minutes <= 0:
        return
    amount = minutes * establishment.price_per_minute_cents
    label = f"Appel vidéo #{call.pk} ({minutes} min"
    relatives = call.relatives.filter(participants__isnull=False).distinct().count()
    if establishment.charge_per_relative and relatives > 1:
        # The establishment's rule: each relative who took part counts.
        amount *= relatives
        label += f", {relatives} proches, tarif par proche"
    elif relatives > 1:
        label += f", {relatives} proches, tarif par appel"
    LedgerEntry.objects.create(
        account=call.detainee.account,
        amount_cents=-amount,
        kind=LedgerEntry.Kind.CALL_CHARGE,
        label=label + ")",
    )
    call.charged_cents = amount


def _end_locked(call: Call, reason: str, *, by: str, staff=None, detail: str = "") -> Call:
    now = timezone.now()
    to_state = FINAL_STATE_FOR[reason]
    _transition(call, to_state, by=by, staff=staff, detail=detail)
    call.end_reason = reason
    call.end_detail = detail[:300]
    call.ended_at = now
    outage = MediaOutage.objects.filter(call=call, ended_at__isnull=True).first()
    if outage is not None:
        # The call ends with its media still down: the time without media is lost, and,
        # when it ends for that very reason, everything that was left of it.
        _close_outage(call, outage, now, give_back=False, whole=reason == R.MEDIA_FAILURE)
    elif reason == R.MEDIA_FAILURE and call.deadline and call.deadline > now:
        # The platform failed without an outage on record (a failure no node reported).
        call.lost_seconds += int((call.deadline - now).total_seconds())
    _charge(call)
    call.save(
        update_fields=[
            "state",
            "end_reason",
            "end_detail",
            "ended_at",
            "lost_seconds",
            "charged_cents",
        ]
    )
    CallCode.objects.filter(call=call, voided_at__isnull=True).update(voided_at=now)
    Participant.objects.filter(call=call, left_at__isnull=True).update(left_at=now)
    CallRoom.objects.filter(call=call, closed_at__isnull=True).update(
        closed_at=now, close_reason="call_over"
    )
    if call.started_at is not None and call.booking.status == Booking.Status.BOOKED:
        do_complete_booking(call.booking)
    record(
        "call.ended",
        actor=staff,
        actor_label=None if staff else by,
        establishment=_establishment_id(call),
        target=call,
        data={"state": to_state, "reason": reason, "detail": detail},
    )
    broadcast_state(call, _establishment_id(call))
    return call


@transaction.atomic
def do_end_call(call: Call, reason: str, *, by: str, staff=None, detail: str = "") -> Call:
    """End an open call; ending one that is already over does nothing."""
    call = _lock(call)
    if not call.is_open:
        return call
    return _end_locked(call, reason, by=by, staff=staff, detail=detail)


@transaction.atomic
def do_relative_hang_up(call: Call, leg: CallRelative | None = None) -> Call:
    """A relative's red button. The call goes on while another relative is in it or
    still expected; the last one hanging up ends it."""
    call = _lock(call)
    if not call.is_open:
        return call
    leg = _leg_or_first(call, leg)
    if leg.out:
        return call
    if not _expected_legs(call, but=leg):
        return _end_locked(call, R.HUNG_UP_RELATIVE, by="relative")
    _leg_out(call, leg, "left_at", timezone.now())
    record(
        "call.relative_left",
        actor_label="relative",
        establishment=_establishment_id(call),
        target=call,
        data={"relative": leg.position},
    )
    return call


@transaction.atomic
def do_remove_relative(call: Call, leg: CallRelative, *, staff, reason: str) -> Call:
    """Staff take one relative out of the call, with a stated reason; the call goes on
    (the detainee, or the deadline, ends it). Audited."""
    call = _lock(call)
    leg = _leg_or_first(call, leg)
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Indiquez le motif."), code="reason_required")
    if not call.is_open or leg.out:
        raise ValidationError(_("Ce proche n'est plus dans l'appel."), code="not_in_call")
    _leg_out(call, leg, "removed_at", timezone.now(), removed_reason=reason[:300])
    record(
        "call.relative_removed",
        actor=staff,
        establishment=_establishment_id(call),
        target=call,
        data={"relative": leg.position, "reason": reason[:300]},
    )
    return call


@transaction.atomic
def do_kiosk_hang_up(call: Call, *, by: str) -> Call:
    """The detainee's red button: a hang-up once the call is live, a cancellation
    before. Which one is read under the lock, since the call may go live meanwhile."""
    call = _lock(call)
    if not call.is_open:
        return call
    reason = R.HUNG_UP_DETAINEE if call.state == S.LIVE else R.CANCELLED
    return _end_locked(call, reason, by=by)


@transaction.atomic
def do_assign_room(
    call: Call, *, node, room_id: int, pin: str, secret: str, recording: bool = False
) -> Call:
    """The call's media go to this new room, unless another process gave it one first
    (the caller then destroys its spare)."""
    call = _lock(call)
    if call.janus_room is not None or not call.is_open:
        return call
    call.media_node = node
    call.janus_room = room_id
    call.janus_room_pin = pin
    call.janus_room_secret = secret
    call.save(update_fields=["media_node", "janus_room", "janus_room_pin", "janus_room_secret"])
    CallRoom.objects.create(
        call=call, node=node, room=room_id, pin=pin, secret=secret, recording=recording
    )
    return call


@transaction.atomic
def do_note_recording(call: Call, *, node_id: int, room_id: int) -> None:
    """Janus now records this room of the call (turned on when the conversation started).

    The call's sockets hear of it: each has its publisher send a keyframe, without which
    the first seconds of the recording could not be decoded."""
    started = CallRoom.objects.filter(
        call=call, node_id=node_id, room=room_id, recording=False
    ).update(recording=True)
    if started:
        send_event(
            [call_group(call.pk)],
            {"type": "call.media", "call": call.pk, "status": "recording", "reason": "",
             "epoch": 0},
        )  # fmt: skip


@transaction.atomic
def do_media_lost(
    call: Call, *, node_id: int, room_id: int, cause: str, since=None, detail: str = ""
) -> bool:
    """The call's room is gone (its node failed, its Janus restarted): its pages must set
    their media up again, in a new room that the next ``hello`` gets.

    Whoever notices first (the health checker, the web process of either side) calls
    this; only the first call for a given room does anything. A live call's lost
    seconds start counting (MediaOutage) from ``since``, the failure's first sign.
    Returns whether this call did it.
    """
    call = _lock(call)
    if not call.is_open or call.media_node_id != node_id or call.janus_room != room_id:
        return False
    now = timezone.now()
    CallRoom.objects.filter(call=call, node_id=node_id, room=room_id, closed_at=None).update(
        closed_at=now, close_reason=cause
    )
    call.media_node = None
    call.janus_room = None
    call.janus_room_pin = ""
    call.janus_room_secret = ""
    call.media_epoch += 1
    call.save(
        update_fields=[
            "media_node",
            "janus_room",
            "janus_room_pin",
            "janus_room_secret",
            "media_epoch",
        ]
    )
    # Nothing of the old room can be taken back: each side publishes afresh.
    Participant.objects.filter(call=call, left_at__isnull=True).update(
        janus_session=None,
        janus_publisher_handle=None,
        janus_subscriber_handle=None,
        feed_id=None,
        subscribed_feeds=[],
        media_up=False,
    )
    if call.state == S.LIVE and not call.outages.filter(ended_at__isnull=True).exists():
        started = min(since or now, now)
        MediaOutage.objects.create(call=call, cause=cause, started_at=started)
        ops_metrics.media_lost(cause)
    record(
        "call.media_lost",
        actor_label="media",
        establishment=_establishment_id(call),
        target=call,
        data={"cause": cause, "node": node_id, "room": room_id, "detail": detail[:200]},
    )
    # The state first: a page leaves its socket on the restart order, and must know by
    # then that its clock stands still.
    broadcast_state(call, _establishment_id(call))
    send_event(
        [call_group(call.pk)],
        {"type": "call.media", "call": call.pk, "status": "restart", "reason": cause,
         "epoch": call.media_epoch},
    )  # fmt: skip
    return True


def move_calls_off_node(node) -> list[int]:
    """``node`` is down: its open calls get new rooms elsewhere (media.hooks.node_down).

    Their seconds without media count from the node's last answer."""
    moved = []
    for call_id, room_id in Call.objects.filter(
        media_node=node, state__in=Call.OPEN_STATES, janus_room__isnull=False
    ).values_list("pk", "janus_room"):
        call = Call(pk=call_id)
        if do_media_lost(
            call,
            node_id=node.pk,
            room_id=room_id,
            cause=MediaOutage.Cause.NODE_DOWN,
            since=node.last_seen_at,
            detail=f"node {node.name} down",
        ):
            moved.append(call_id)
    return moved


@transaction.atomic
def do_announce_media_available(node) -> list[int]:
    """A node is up again: calls waiting for a room try again now rather than at their
    pages' next retry (media.hooks.node_up)."""
    waiting = list(
        Call.objects.filter(
            state__in=[S.CALLING, S.CODE_SENT, S.RELATIVE_JOINED, S.LIVE],
            janus_room__isnull=True,
        ).values_list("pk", flat=True)
    )
    for call_id in waiting:
        send_event(
            [call_group(call_id)],
            {"type": "call.media", "call": call_id, "status": "available", "reason": "node_up",
             "epoch": 0},
        )  # fmt: skip
    return waiting


def giveback_limit(call: Call):
    """The latest a call may end once platform faults are given back: the room's next
    booking, the establishment's cap, and at most one call length past the slot."""
    booking = call.booking
    establishment = booking.room.quarter.establishment
    limit = booking.ends_at + timedelta(minutes=establishment.call_minutes)
    following = (
        Booking.objects.filter(room_id=booking.room_id, starts_at__gte=booking.starts_at)
        .exclude(pk=booking.pk)
        .exclude(status=Booking.Status.CANCELLED)
        .order_by("starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )
    if following is not None:
        limit = min(limit, following)
    if establishment.giveback_max_minutes is not None and call.deadline is not None:
        # The cap counts every second given back to this call, over all its outages.
        before_any = call.deadline - timedelta(seconds=call.given_back_seconds)
        limit = min(limit, before_any + timedelta(minutes=establishment.giveback_max_minutes))
    return max(limit, call.deadline) if call.deadline else limit


def _close_outage(
    call: Call, outage: MediaOutage, at, *, give_back: bool, whole: bool = False
) -> None:
    """End ``outage`` at ``at``: add its seconds to the deadline as far as the room
    allows, and keep what could not be given back as lost. Without ``give_back`` (the
    call ends), the conversation time the outage took is lost: all that was left at its
    start with ``whole``. The caller saves the call."""
    outage.ended_at = max(at, outage.started_at)
    seconds = outage.seconds
    given = 0
    if give_back and call.deadline is not None:
        extended = min(call.deadline + timedelta(seconds=seconds), giveback_limit(call))
        given = max(0, int((extended - call.deadline).total_seconds()))
        call.deadline = call.deadline + timedelta(seconds=given)
        lost = seconds - given
    else:
        # The call is over: the conversation time that fell into the outage is lost.
        until = outage.ended_at
        if call.deadline is not None:
            until = call.deadline if whole else min(until, call.deadline)
        lost = max(0, int((until - outage.started_at).total_seconds()))
    outage.given_back_seconds = given
    outage.lost_seconds = lost
    outage.save(update_fields=["ended_at", "given_back_seconds", "lost_seconds"])
    call.given_back_seconds += given
    call.lost_seconds += lost
    call.save(update_fields=["deadline", "given_back_seconds", "lost_seconds"])
    ops_metrics.outage_closed(seconds, given, lost)
    record(
        "call.media_back" if give_back else "call.media_never_back",
        actor_label="media",
        establishment=_establishment_id(call),
        target=call,
        data={"seconds": seconds, "given_back": given, "lost": lost, "cause": outage.cause},
    )


@transaction.atomic
def do_join(
    call: Call, role: str, *, staff=None, leg: CallRelative | None = None
) -> tuple[Participant, str]:
    """A side (or a monitor) attaches; an earlier attachment of the same side (the
    kiosk, or the same relative) is closed."""
    call = _lock(call)
    now = timezone.now()
    leg = _leg_or_first(call, leg) if role == Participant.Role.RELATIVE else None
    if role == Participant.Role.KIOSK:
        Participant.objects.filter(call=call, role=role, left_at__isnull=True).update(left_at=now)
    elif role == Participant.Role.RELATIVE:
        Participant.objects.filter(call=call, role=role, relative=leg, left_at__isnull=True).update(
            left_at=now
        )
    token = codes.new_token()
    participant = Participant.objects.create(
        call=call,
        role=role,
        relative=leg,
        staff=staff,
        resume_token_hash=codes.hash_token(token),
    )
    return participant, token


@transaction.atomic
def do_note_media(participant: Participant, **fields) -> None:
    """Where a participant's media lives in Janus (session, handles, feed): what a page
    that reconnects, or another web process, needs to take that media back."""
    for name, value in fields.items():
        setattr(participant, name, value)
    participant.last_seen_at = timezone.now()
    participant.save(update_fields=[*fields, "last_seen_at"])


@transaction.atomic
def do_announce_peer(
    call_id: int,
    role: str,
    status: str,
    *,
    feed: int | None,
    reason: str = "",
    relative: int | None = None,
) -> None:
    """Tell the call's other sockets what became of one side's media (``relative``: which
    relative, for a relative's)."""
    event = {
        "type": "call.peer",
        "call": call_id,
        "role": role,
        "status": status,
        "feed": feed,
        "relative": relative,
    }
    if reason:
        event["reason"] = reason
    send_event([call_group(call_id)], event)


@transaction.atomic
def do_note_published(participant: Participant, feed_id: int) -> None:
    """A side published in the call's room: its feed now, kept among all it published
    (the recording tells the sides apart by them)."""
    participant.refresh_from_db(fields=["published_feeds"])
    feeds = [*participant.published_feeds, feed_id]
    do_note_media(participant, feed_id=feed_id, published_feeds=feeds)


@transaction.atomic
def do_announce_attached(participant: Participant, channel: str) -> tuple[int, int]:
    """A side's page attached through ``channel`` as ``participant``: every other socket
    of that side attached before it closes. The newest page (a duplicated tab, another
    device) wins, rather than two pages fighting over one side's place in the room.

    Returns the attachment's place in that order, (participant id, count): a newer
    participant comes after every attachment of an older one."""
    Participant.objects.filter(pk=participant.pk).update(attachments=F("attachments") + 1)
    count = Participant.objects.values_list("attachments", flat=True).get(pk=participant.pk)
    send_event(
        [call_group(participant.call_id)],
        {
            "type": "call.attached",
            "call": participant.call_id,
            "role": participant.role,
            "relative": participant.relative.position if participant.relative_id else None,
            "channel": channel,
            "participant": participant.pk,
            "attachment": count,
        },
    )
    return participant.pk, count


@transaction.atomic
def do_forget_media(participant: Participant) -> None:
    """A participant's Janus session was destroyed: nothing of it is left to take back."""
    do_note_media(
        participant,
        janus_session=None,
        janus_publisher_handle=None,
        janus_subscriber_handle=None,
        subscribed_feeds=[],
        feed_id=None,
        media_up=False,
    )


@transaction.atomic
def do_set_low_bandwidth(participant: Participant, low: bool) -> None:
    """A side says its link is weak (or fine again). Kept so that the other side, should
    it reconnect, is told again at once; staff see it on the live wall."""
    fields: dict = {"low_bandwidth": low}
    if low:
        fields["last_slowlink_at"] = timezone.now()
    Participant.objects.filter(pk=participant.pk).update(**fields)
    do_announce_peer(
        participant.call_id,
        participant.role,
        "low_bandwidth" if low else "normal_bandwidth",
        feed=participant.feed_id,
        relative=participant.relative.position if participant.relative_id else None,
    )


@transaction.atomic
def do_note_slowlink(participant: Participant) -> None:
    """Janus saw this side's link lose packets (shown to staff on the live wall)."""
    Participant.objects.filter(pk=participant.pk).update(last_slowlink_at=timezone.now())


@transaction.atomic
def do_start_watching(call: Call, staff, participant: Participant) -> None:
    record(
        "call.watch_started",
        actor=staff,
        establishment=_establishment_id(call),
        target=call,
        data={"participant": participant.pk},
    )


@transaction.atomic
def do_stop_watching(call: Call, staff, participant: Participant) -> None:
    """A monitor's socket closed: it leaves the call, and the audit log says for how long."""
    now = timezone.now()
    Participant.objects.filter(pk=participant.pk, left_at__isnull=True).update(left_at=now)
    record(
        "call.watch_ended",
        actor=staff,
        establishment=_establishment_id(call),
        target=call,
        data={
            "participant": participant.pk,
            "seconds": int((now - participant.joined_at).total_seconds()),
        },
    )


def end_overdue(now=None) -> list[int]:
    """Open calls past their persisted deadline end now, whatever any browser does.

    A live call whose media are down by the platform's fault is past its deadline only
    once nothing more could be given back (giveback_limit): until then it waits for
    its media, and ends as a media failure if they never come back.
    """
    now = now or timezone.now()
    ended = []
    for call_id in Call.objects.filter(state__in=Call.OPEN_STATES, deadline__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            call = _lock(Call(pk=call_id))
            if not call.is_open or call.deadline is None or call.deadline > now:
                continue
            if call.state == S.LIVE and call.outages.filter(ended_at__isnull=True).exists():
                if giveback_limit(call) > now:
                    continue
                _end_locked(call, R.MEDIA_FAILURE, by="worker", detail="media never came back")
            elif call.state == S.LIVE:
                _end_locked(call, R.TIME_UP, by="worker")
            elif call.state == S.BOOKED and call.consents.filter(accepted=False).exists():
                # The relative refused and the detainee did not call again.
                _end_locked(call, R.REFUSED_MONITORING, by="worker")
            else:
                _end_locked(call, R.NO_ANSWER, by="worker")
            ended.append(call.pk)
    return ended


@transaction.atomic
def do_warn(call: Call, text: str = "", *, staff, preset: str = "") -> CallWarning:
    """Show ``text``, or a preset warning (each side reads it in its own language), on
    both screens of a live call, and keep it."""
    from parloir import access

    if preset:
        if preset not in CallWarning.Preset.values:
            raise ValidationError(_("Ce message prévu n'existe pas."), code="preset")
        with translation.override(settings.LANGUAGE_CODE):
            text = str(CallWarning.Preset(preset).label)
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("Le message est vide."), code="empty")
    call = _lock(call)
    access.require(staff, access.Can.CONTROL_CALL, _establishment_id(call))
    if not call.is_open:
        raise ValidationError(_("Cet appel est terminé."), code="call_over")
    warning = CallWarning.objects.create(call=call, staff=staff, text=text[:300])
    record(
        "call.warned",
        actor=staff,
        establishment=_establishment_id(call),
        target=call,
        data={"text": warning.text, **({"preset": preset} if preset else {})},
    )
    notice = {"type": "call.notice", "call": call.pk, "text": warning.text, "by": "staff"}
    if preset:
        notice["preset"] = preset
    send_event([call_group(call.pk)], notice)
    return warning


@transaction.atomic
def do_interrupt(call: Call, *, category: str, reason: str, urgent: bool, staff) -> Call:
    """Staff end a call: a stated reason, and a warning first unless it is urgent."""
    from parloir import access

    reason = require_reason(reason)
    if category not in Call.InterruptCategory.values:
        raise ValidationError(_("Choisissez la catégorie du motif."), code="category")
    call = _lock(call)
    access.require(staff, access.Can.CONTROL_CALL, _establishment_id(call))
    if not call.is_open:
        return call
    if not urgent and not call.warnings.exists():
        raise ValidationError(
            _("Envoyez d'abord un avertissement aux deux côtés, ou cochez « urgence »."),
            code="warn_first",
        )
    record(
        "call.interrupted",
        actor=staff,
        establishment=_establishment_id(call),
        target=call,
        data={"category": category, "reason": reason, "urgent": urgent},
    )
    return _end_locked(call, R.STAFF, by=staff.get_username(), staff=staff, detail=category)


def end_calls_for_suspension(suspension) -> list[int]:
    """A suspension in force now ends the detainee's open calls (called in its transaction)."""
    if not suspension.is_active():
        return []
    return end_calls_of(
        Call.objects.filter(detainee=suspension.detainee),
        R.SUSPENDED,
        staff=suspension.decided_by,
        detail="suspension",
    )


def end_suspended(now=None) -> list[int]:
    """Open calls of a detainee whose suspension has come into force end now.

    A suspension decided for a little later ends the call under way when it starts,
    not only one decided for now (end_calls_for_suspension).
    """
    now = now or timezone.now()
    in_force = {
        "detainee__suspensions__starts_at__lte": now,
        "detainee__suspensions__ends_at__gt": now,
        "detainee__suspensions__lifted_at__isnull": True,
    }
    ended = []
    for call_id in (
        Call.objects.filter(state__in=Call.OPEN_STATES, **in_force)
        .values_list("pk", flat=True)
        .distinct()
    ):
        with transaction.atomic():
            # The call's row only: PostgreSQL cannot lock the nullable side of a join (a
            # call the privacy purge unlinked has no detainee).
            call = (
                Call.objects.select_for_update(of=("self",))
                .select_related("detainee")
                .get(pk=call_id)
            )
            suspension = call.detainee.active_suspension(now)
            if not call.is_open or suspension is None:
                continue
            by = suspension.decided_by.get_username()
            _end_locked(call, R.SUSPENDED, by=by, staff=suspension.decided_by, detail="suspension")
            ended.append(call.pk)
    return ended


def end_calls_of(calls, reason: str = R.STAFF, *, staff, detail: str) -> list[int]:
    """End the open ones among ``calls``, inside the caller's transaction: a contact
    revoked or a booking cancelled must not leave its call open, nor its code usable,
    once the relative has been told."""
    ended = []
    by = staff.get_username() if staff else "system"
    for call in calls.select_for_update().filter(state__in=Call.OPEN_STATES):
        _end_locked(call, reason, by=by, staff=staff, detail=detail)
        ended.append(call.pk)
    return ended
