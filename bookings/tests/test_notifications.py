"""The relative is told of every booking, move and cancellation, in their own language."""

import json
from datetime import date, time

import pytest
from django.conf import settings

from bookings.actions import do_book, do_cancel_booking, do_move_booking
from bookings.tests.factories import local, open_room
from notify.models import Message
from people.models import Role
from tests.factories import staff_with_role

pytestmark = pytest.mark.django_db

FRIDAY = date(2027, 3, 5)


@pytest.fixture
def site(time_machine, settings):
    settings.SITE_URL = "https://parloir.example"
    time_machine.move_to(local(FRIDAY, 7), tick=False)
    return open_room(opens=time(9), closes=time(18))


def book(site, hh=14, mm=30):
    return do_book(
        site.detainee,
        room=site.room,
        contact=site.contact,
        starts_at=local(FRIDAY, hh, mm),
        booked_via="kiosk",
    )


def outbox():
    path = settings.OUTBOX_PATH
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_it_tells_the_contact_in_french_with_date_time_place_and_calendar_link(site):
    booking = book(site)
    message = Message.objects.get()
    assert message.contact == site.contact
    assert message.to_number == site.contact.phone_number
    assert message.purpose == "booking_made" and message.language == "fr"
    assert "vendredi 5 mars 2027 à 14:30" in message.text
    assert site.establishment.name in message.text
    assert site.establishment.contact_phone in message.text
    assert f"https://parloir.example/b/{booking.token}.ics" in message.text


def test_it_writes_in_english_for_an_english_speaking_contact(site):
    site.contact.language = "en"
    site.contact.save(update_fields=["language"])
    book(site)
    text = Message.objects.get().text
    assert text.startswith(f"{site.detainee.first_name} has booked a video call with you")
    assert "Friday 5 March 2027 at 14:30" in text


def test_it_gives_the_time_in_the_establishments_zone(site):
    site.establishment.time_zone = "America/Cayenne"
    site.establishment.save(update_fields=["time_zone"])
    cayenne = local(FRIDAY, 14, 30).astimezone(site.establishment.zone).replace(tzinfo=None)
    booking = do_book(
        site.detainee,
        room=site.room,
        contact=site.contact,
        starts_at=cayenne.replace(tzinfo=site.establishment.zone),
        booked_via="kiosk",
    )
    assert booking.starts_at == local(FRIDAY, 14, 30)
    assert "à 10:30" in Message.objects.get().text


def test_it_sends_only_after_commit(site, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        book(site)
    assert outbox() == []
    for callback in callbacks:
        callback()
    assert [line["purpose"] for line in outbox()] == ["booking_made"]


def test_it_tells_of_moves_and_cancellations_without_staff_reasons(site):
    booking = book(site)
    do_move_booking(booking, starts_at=local(FRIDAY, 16), via="kiosk")
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment)
    do_cancel_booking(booking, reason="Fouille de cellule", via="staff", actor=officer)
    made, moved, cancelled = Message.objects.order_by("id")
    assert (made.purpose, moved.purpose, cancelled.purpose) == (
        "booking_made",
        "booking_moved",
        "booking_cancelled",
    )
    assert "14:30" in moved.text and "16:00" in moved.text
    assert "16:00" in cancelled.text and "annulé" in cancelled.text
    assert "Fouille" not in cancelled.text
