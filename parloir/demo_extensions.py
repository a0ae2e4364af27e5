"""Demo data of the layers above people: booking rules, kiosks, a media node, and bookings
that can call now (renewed by every ./scripts/run, and by manage.py demo_bookings)."""

from datetime import time, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from bookings.models import Booking, BookingRules, OpeningHours
from establishments.actions import do_register_kiosk
from establishments.models import KioskDevice, VideoRoom
from media.models import MediaNode
from parloir.workers import LOCAL_NODE


def extend(command, establishment, admin) -> None:
    rules, _ = BookingRules.objects.get_or_create(
        establishment=establishment,
        quarter=None,
        room=None,
        defaults={"slot_minutes": 30, "weekly_quota": 3, "monthly_quota": 10},
    )
    if not OpeningHours.objects.filter(rules=rules).exists():
        for weekday in range(7):
            for opens, closes in ((time(8, 30), time(12)), (time(13, 30), time(20))):
                OpeningHours.objects.create(
                    rules=rules,
                    establishment=establishment,
                    weekday=weekday,
                    opens_at=opens,
                    closes_at=closes,
                )
    MediaNode.objects.get_or_create(
        name=LOCAL_NODE,
        defaults={
            "ws_url": "ws://127.0.0.1:8188",
            "admin_ws_url": "ws://127.0.0.1:7188",
            "recording_dir": str(Path(settings.VAR_DIR) / "recordings" / LOCAL_NODE),
        },
    )
    for room in VideoRoom.objects.filter(
        quarter__establishment=establishment, quarter__code__in=CALLER_QUARTERS
    ).select_related("quarter"):
        if not KioskDevice.objects.filter(room=room, revoked_at__isnull=True).exists():
            label = f"Borne {room.quarter.code} {room.name.rpartition(' ')[2]}"
            _device, credential = do_register_kiosk(room, label, actor=admin)
            command.stdout.write(
                f"Kiosk of {room.quarter.code} {room.name} ({label}): open /kiosk/activer "
                f"on the kiosk's browser and enter {credential}"
            )
    command.stdout.write("Bookings now at the demo's kiosks (/kiosk/, prison number and PIN):")
    renew_bookings_now(command, establishment, admin)


# Who can call from the demo's kiosks at any time: one detainee per video room (a room
# holds one booking at a time), each with a mobile relative. (prison number, quarter, room)
CALLERS = [
    ("24001", "QMA", "Visio 1"),
    ("24002", "QMA", "Visio 2"),
    ("24008", "QCD", "Visio 1"),
    ("24011", "QSL", "Visio 1"),
]
CALLER_QUARTERS = sorted({quarter for _number, quarter, _room in CALLERS})
# A demo booking runs an hour from when it is made; it is renewed once less than a whole
# call is left in it (or its call is over), so that "Appeler" always gives a full call.
BOOKING_MINUTES = 60


def renew_bookings_now(command, establishment, admin) -> None:
    """Give each of CALLERS a booking they can call from now, with a whole call left in it.

    A booking that still allows a whole call, or whose call is under way, is kept. The
    bookings under way in the caller's room or of the caller that stand in the way (running
    out, or their call over) give way now. A later booking of the room or the detainee (one
    made at the kiosk, say) is never touched: the new booking ends where it starts.
    """
    from bookings.actions import do_book_demo_call, do_release_demo_booking
    from bookings.availability import can_start_call
    from calls.models import Call
    from people.models import Detainee

    now = timezone.now()
    zone = establishment.zone
    whole_call = timedelta(minutes=establishment.call_minutes)
    for number, quarter, room_name in CALLERS:
        detainee = Detainee.objects.get(establishment=establishment, prison_number=number)
        room = VideoRoom.objects.get(
            quarter__establishment=establishment, quarter__code=quarter, name=room_name
        )
        who = f"  {number} {detainee.first_name} {detainee.last_name} ({quarter} {room_name}):"
        current = (
            Booking.objects.filter(
                room=room, detainee=detainee, status=Booking.Status.BOOKED, ends_at__gt=now
            )
            .order_by("starts_at")
            .first()
        )
        call = Call.objects.filter(booking=current).first() if current else None
        if current is not None and can_start_call(current, now):
            if call is not None and call.is_open:
                command.stdout.write(f"{who} a call is under way; its booking is kept.")
                continue
            if call is None and current.ends_at - now >= whole_call:
                until = timezone.localtime(current.ends_at, zone)
                command.stdout.write(f"{who} can call until {until:%H:%M}.")
                continue
        later = (
            Booking.objects.filter(status=Booking.Status.BOOKED, starts_at__gt=now)
            .filter(Q(detainee=detainee) | Q(room=room))
            .order_by("starts_at")
            .values_list("starts_at", flat=True)
            .first()
        )
        ends_at = now + timedelta(minutes=BOOKING_MINUTES)
        if later is not None:
            ends_at = min(ends_at, later)
        if ends_at - now < whole_call:
            until = timezone.localtime(later, zone)
            command.stdout.write(f"{who} no booking now: the next one starts at {until:%H:%M}.")
            continue
        contact = detainee.contacts.filter(status="approved", line_type="mobile").first()
        try:
            for begun in Booking.objects.filter(
                Q(detainee=detainee) | Q(room=room), starts_at__lte=now, ends_at__gt=now
            ).exclude(status=Booking.Status.CANCELLED):
                do_release_demo_booking(begun, at=now, actor=admin)
            booking = do_book_demo_call(
                detainee, room=room, contact=contact, starts_at=now, ends_at=ends_at, actor=admin
            )
        except ValidationError as exc:
            command.stdout.write(f"{who} no booking now ({' '.join(exc.messages)}).")
            continue
        until = timezone.localtime(booking.ends_at, zone)
        command.stdout.write(
            f"{who} can call {contact.first_name} {contact.last_name} until {until:%H:%M}."
        )
