"""Who is on the other end of a request or a WebSocket: a kiosk, a relative, or staff.

Shared by the HTTP views and the WebSocket consumers, so both apply the same rules.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from calls.models import Call, CallRelative
from establishments.models import KioskDevice
from people.models import Detainee

KIOSK_COOKIE = "parloir_kiosk"
KIOSK_SESSION_DETAINEE = "kiosk_detainee"
KIOSK_SESSION_DEVICE = "kiosk_device"
# The call this browser may take part in: set once it has given every consent.
PORTAL_SESSION_CALL = "portal_call"
# The call this browser was let into by a code, while it reads the consents.
PORTAL_SESSION_PENDING = "portal_pending_call"
# The hash of this browser's seat cookie (calls.codes.seat_hash).
PORTAL_SESSION_SEAT = "portal_seat"
# Which of the call's relatives this browser is (CallRelative.pk): the leg of its code.
PORTAL_SESSION_LEG = "portal_relative"


def new_kiosk_credential() -> tuple[str, str, str]:
    """(credential given to the device once, prefix kept to find it, hash kept to check it)."""
    prefix = secrets.token_hex(5)
    secret = secrets.token_urlsafe(32)
    return f"{prefix}.{secret}", prefix, hashlib.sha256(secret.encode()).hexdigest()


def kiosk_device(cookie_value: str | None) -> KioskDevice | None:
    """The authorized, unrevoked device whose credential this is, or None."""
    if not cookie_value or "." not in cookie_value:
        return None
    prefix, secret = cookie_value.split(".", 1)
    device = (
        KioskDevice.objects.select_related("room__quarter__establishment")
        .filter(credential_prefix=prefix)
        .first()
    )
    if device is None or not device.is_active:
        return None
    expected = hashlib.sha256(secret.encode()).hexdigest()
    if not hmac.compare_digest(expected, device.credential_hash):
        return None
    return device


@dataclass
class KioskPrincipal:
    device: KioskDevice
    detainee: Detainee | None


def kiosk_principal(cookies: dict, session) -> KioskPrincipal | None:
    device = kiosk_device(cookies.get(KIOSK_COOKIE))
    if device is None:
        return None
    detainee = None
    detainee_id = session.get(KIOSK_SESSION_DETAINEE)
    if detainee_id and session.get(KIOSK_SESSION_DEVICE) == device.pk:
        # A detainee signed in at this kiosk may only be one of this room's quarter.
        detainee = Detainee.objects.filter(
            pk=detainee_id,
            quarter=device.room.quarter,
            status=Detainee.Status.PRESENT,
        ).first()
    return KioskPrincipal(device=device, detainee=detainee)


def kiosk_call(principal: KioskPrincipal, call_id: int) -> Call | None:
    """A call the signed-in detainee may act on from this kiosk's room."""
    if principal.detainee is None:
        return None
    return (
        Call.objects.select_related("booking__room__quarter__establishment", "contact", "detainee")
        .filter(pk=call_id, detainee=principal.detainee, booking__room=principal.device.room)
        .first()
    )


def forget_portal_call(session) -> None:
    """The relative refused: this browser is no longer let into the call. Should the
    detainee call again, a new code lets it in, through the consents again."""
    for key in (PORTAL_SESSION_CALL, PORTAL_SESSION_PENDING, PORTAL_SESSION_LEG):
        session.pop(key, None)


def portal_call(session, *, pending: bool = False, seat_lost: bool = False) -> Call | None:
    """The call a relative's browser was let into (portal_leg's call)."""
    leg = portal_leg(session, pending=pending, seat_lost=seat_lost)
    return leg.call if leg is not None else None


def portal_leg(session, *, pending: bool = False, seat_lost: bool = False) -> CallRelative | None:
    """The relative's leg of a call a browser was let into by a code and gave its
    consents for, with its call.

    Only while this browser holds that relative's seat: when a new device of the same
    relative joins with a new code, this one is out. ``pending`` also accepts a browser
    still reading the consents (the consent pages themselves); ``seat_lost`` a browser
    that has lost the seat (the end page, which tells it the call goes on elsewhere,
    and nothing more).
    """
    from calls.actions import current_seat, first_leg

    call_id = session.get(PORTAL_SESSION_CALL)
    if not call_id and pending:
        call_id = session.get(PORTAL_SESSION_PENDING)
    seat = session.get(PORTAL_SESSION_SEAT) or ""
    if not call_id or not seat:
        return None
    leg_id = session.get(PORTAL_SESSION_LEG)
    if leg_id:
        # The leg and its call in one query: every page and hello of a relative asks.
        leg = (
            CallRelative.objects.select_related(
                "contact",
                "call__booking__room__quarter__establishment",
                "call__contact",
                "call__detainee",
            )
            .filter(pk=leg_id, call_id=call_id)
            .first()
        )
        if leg is None:
            return None
        call = leg.call
    else:
        # A session from before calls had several relatives: the first.
        call = (
            Call.objects.select_related(
                "booking__room__quarter__establishment", "contact", "detainee"
            )
            .filter(pk=call_id)
            .first()
        )
        leg = first_leg(call) if call is not None else None
        if leg is None:
            return None
        leg.call = call
    if not seat_lost and not hmac.compare_digest(seat, current_seat(call, leg)):
        return None
    return leg


# How fresh a kiosk's last_seen_at is kept: a write per request would be one more query
# on every page and heartbeat of every kiosk, for a date shown to the minute.
DEVICE_SEEN_RESOLUTION = timedelta(minutes=1)


def touch_device(device: KioskDevice) -> None:
    now = timezone.now()
    if device.last_seen_at is not None and now - device.last_seen_at < DEVICE_SEEN_RESOLUTION:
        return
    KioskDevice.objects.filter(pk=device.pk).update(last_seen_at=now)
    device.last_seen_at = now
