"""Demo data of the layers above people: booking rules, bookings, a kiosk, a media node."""

from datetime import time, timedelta
from pathlib import Path

from django.conf import settings
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
    room = VideoRoom.objects.filter(
        quarter__establishment=establishment, quarter__code="QMA"
    ).first()
    if not KioskDevice.objects.filter(room=room, revoked_at__isnull=True).exists():
        _device, credential = do_register_kiosk(room, "Borne QMA 1", actor=admin)
        command.stdout.write(
            f"Kiosk of {room}: open /kiosk/activer on the kiosk's browser and enter {credential}"
        )
    _bookings_now(establishment, room, admin)


def _bookings_now(establishment, room, admin) -> None:
    """A booking under way right now, so that the kiosk can call at once in the demo."""
    from people.models import Detainee

    detainee = Detainee.objects.get(establishment=establishment, prison_number="24001")
    now = timezone.now()
    if Booking.objects.filter(detainee=detainee, ends_at__gt=now).exists():
        return
    contact = detainee.contacts.filter(status="approved", line_type="mobile").first()
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 30)
    Booking.objects.create(
        room=room,
        detainee=detainee,
        contact=contact,
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        booked_via="staff",
        booked_by=admin,
    )
