from datetime import UTC, date, datetime, time

import pytest
from icalendar import Calendar

from bookings.actions import do_book, do_cancel_booking, do_move_booking
from bookings.tests.factories import local, open_room

pytestmark = pytest.mark.django_db

FRIDAY = date(2027, 3, 5)


@pytest.fixture
def booking(time_machine):
    time_machine.move_to(local(FRIDAY, 7), tick=False)
    site = open_room(opens=time(9), closes=time(18))
    return do_book(
        site.detainee,
        room=site.room,
        contact=site.contact,
        starts_at=local(FRIDAY, 14, 30),
        booked_via="kiosk",
    )


def event_of(client, booking):
    response = client.get(f"/b/{booking.token}.ics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert "no-store" in response["Cache-Control"]
    return Calendar.from_ical(response.content).walk("VEVENT")[0]


def test_it_serves_the_booking_as_a_calendar_event_in_utc(client, booking):
    event = event_of(client, booking)
    assert event.decoded("dtstart") == datetime(2027, 3, 5, 13, 30, tzinfo=UTC)
    assert event.decoded("dtend") == datetime(2027, 3, 5, 14, 0, tzinfo=UTC)
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["location"]) == booking.room.quarter.establishment.name
    assert booking.detainee.first_name in str(event["summary"])


def test_it_keeps_the_uid_and_raises_the_sequence_on_move_and_cancel(client, booking):
    uid = str(event_of(client, booking)["uid"])
    do_move_booking(booking, starts_at=local(FRIDAY, 16), via="kiosk")
    moved = event_of(client, booking)
    assert (str(moved["uid"]), int(moved["sequence"])) == (uid, 1)
    do_cancel_booking(booking, reason="Empêchement", via="kiosk")
    cancelled = event_of(client, booking)
    assert (str(cancelled["status"]), int(cancelled["sequence"])) == ("CANCELLED", 2)


def test_it_answers_404_to_an_unknown_token(client, booking):
    assert client.get(f"/b/{booking.token[:-1]}x.ics").status_code == 404
    assert client.get("/b/1.ics").status_code == 404


def test_it_speaks_the_contacts_language(client, booking):
    booking.contact.language = "en"
    booking.contact.save(update_fields=["language"])
    assert str(event_of(client, booking)["summary"]).startswith("Video call with")
