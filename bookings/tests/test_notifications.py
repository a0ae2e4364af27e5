"""The relative is told of every booking, move and cancellation, in their own language."""

import json
from datetime import date, time, timedelta

import pytest
from django.conf import settings

from bookings.actions import do_book, do_cancel_booking, do_move_booking
from bookings.tests.factories import local, open_room
from notify.actions import claim, record
from notify.backends.base import Outcome
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


@pytest.fixture
def queued(settings):
    # Queued for the worker, which is not running: each test plays the worker's claim.
    settings.SMS_BACKEND = "kannel"


def test_a_booked_notice_still_waiting_is_dropped_once_the_booking_is_cancelled(site, queued):
    booking = book(site)
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment)
    do_cancel_booking(booking, reason="Fouille", via="staff", actor=officer)
    made, cancelled = Message.objects.order_by("id")

    assert claim(made.pk) is None
    made.refresh_from_db()
    assert made.status == "failed" and "Plus utile" in made.error
    assert claim(cancelled.pk) is not None


def test_only_the_latest_move_is_told_when_earlier_ones_still_wait(site, queued):
    booking = book(site)
    do_move_booking(booking, starts_at=local(FRIDAY, 16), via="kiosk")
    do_move_booking(booking, starts_at=local(FRIDAY, 17), via="kiosk")
    made, first_move, second_move = Message.objects.order_by("id")

    assert [claim(m.pk) is None for m in (made, first_move, second_move)] == [True, True, False]
    assert "17:00" in second_move.text


def test_a_notice_is_not_retried_past_the_time_of_the_call(site, queued, time_machine):
    book(site)
    made = Message.objects.get()
    taken = claim(made.pk)
    assert taken is not None
    # The gateway refused it; the next try would come after the call's start.
    time_machine.move_to(local(FRIDAY, 14, 30) - timedelta(seconds=1), tick=False)
    record(made.pk, taken[1].pk, Outcome(ok=False, retryable=True, error="busy"))

    made.refresh_from_db()
    assert made.status == "failed" and made.next_attempt_at is None


def test_a_notice_waiting_for_a_retry_goes_out_while_the_booking_holds(site, queued):
    book(site)
    made = Message.objects.get()
    taken = claim(made.pk)
    record(made.pk, taken[1].pk, Outcome(ok=False, retryable=True, error="busy"))

    made.refresh_from_db()
    assert made.status == "queued" and made.next_attempt_at is not None
