"""A call ready to start: a room, a detainee with an account, an approved contact, a booking now."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from bookings.models import Booking
from bookings.tests.factories import Site, booking_row, open_room
from calls import actions
from calls.models import Call
from establishments.actions import do_register_kiosk
from establishments.models import KioskDevice
from tests.factories import staff_with_role


@dataclass
class Ready:
    site: Site
    booking: Booking
    device: KioskDevice
    credential: str


def ready_call(minutes_into_slot: int = 1, slot_minutes: int = 30, **rules) -> Ready:
    site = open_room(**rules)
    starts_at = timezone.now() - timedelta(minutes=minutes_into_slot)
    booking = booking_row(site, starts_at, minutes=slot_minutes)
    director = staff_with_role("director", site.establishment)
    device, credential = do_register_kiosk(site.room, "Borne 1", actor=director)
    return Ready(site, booking, device, credential)


def start(ready: Ready) -> Call:
    return actions.do_start_call(ready.booking, device_label=ready.device.label)


def sent_code(settings) -> str:
    """The code in the last outbox line, as the relative would read it."""
    import json
    import re

    line = settings.OUTBOX_PATH.read_text().splitlines()[-1]
    return re.search(r"(\d+)\s*$", json.loads(line)["text"]).group(1)


async def relative_socket(client, accept_language: str | None = None):
    """The call WebSocket, connected as the relative whose portal session ``client`` holds."""
    from channels.testing import WebsocketCommunicator

    from parloir.asgi import application

    headers = [
        (b"origin", b"http://localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    if accept_language:
        headers.append((b"accept-language", accept_language.encode()))
    communicator = WebsocketCommunicator(application, "/ws/call/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator
