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


def ready_family(names: tuple[str, ...] = ("Lina", "Yanis")) -> tuple[Ready, list]:
    """A ready booking naming the site's contact and one more contact per name, in an
    establishment whose calls reach them all: (ready, contacts in the booking's order)."""
    from bookings.models import BookingContact
    from tests.factories import ContactFactory

    ready = ready_call()
    establishment = ready.site.establishment
    establishment.max_relatives_per_call = 1 + len(names)
    establishment.save(update_fields=["max_relatives_per_call"])
    contacts = [ready.site.contact]
    for position, name in enumerate(names, start=1):
        contact = ContactFactory(detainee=ready.site.detainee, first_name=name)
        BookingContact.objects.create(booking=ready.booking, contact=contact, position=position)
        contacts.append(contact)
    return ready, contacts


def start(ready: Ready) -> Call:
    return actions.do_start_call(ready.booking, device_label=ready.device.label)


def live_call(ready: Ready, node, room: int = 1001) -> Call:
    """The ready booking's call, live in ``room`` on ``node`` through the real actions:
    the consents, the room, both sides joined, publishing and receiving."""
    call = start(ready)
    for kind in ("terms", "privacy", "monitoring"):
        actions.do_record_consent(
            call, kind, accepted=True, client_ip="10.0.0.1", user_agent="UA", language="fr"
        )
    actions.do_relative_waiting(call)
    actions.do_assign_room(call, node=node, room_id=room, pin="p", secret="s")
    for role in ("kiosk", "relative"):
        participant, _token = actions.do_join(call, role)
        actions.do_note_published(participant, 7000 + len(role))
        actions.do_mark_media_up(call, role)
    call = Call.objects.get(pk=call.pk)
    assert call.state == Call.State.LIVE
    return call


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
