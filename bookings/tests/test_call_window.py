"""When a booked call may start and when it must end (what the call layer asks)."""

from datetime import timedelta

import pytest

from bookings.availability import call_deadline, can_start_call, current_booking
from bookings.tests.conftest import MONDAY
from bookings.tests.factories import book, local, ready_detainee

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "hh,mm,ss,allowed",
    [
        (9, 54, 59, False),
        (9, 55, 0, True),
        (10, 0, 0, True),
        (10, 29, 59, True),
        (10, 30, 0, False),
    ],
)
def test_it_lets_a_call_start_only_within_the_booking_and_its_tolerance(
    booking, hh, mm, ss, allowed
):
    at = local(MONDAY, hh, mm) + timedelta(seconds=ss)
    assert can_start_call(booking, at) is allowed


def test_it_never_lets_a_cancelled_booking_start(booking):
    booking.status = "cancelled"
    assert not can_start_call(booking, local(MONDAY, 10))


def test_it_ends_the_call_at_its_length_or_the_slot_end_whichever_first(booking, site):
    site.establishment.call_minutes = 20
    assert call_deadline(booking, site.establishment, local(MONDAY, 9, 56)) == local(MONDAY, 10, 16)
    assert call_deadline(booking, site.establishment, local(MONDAY, 10, 20)) == local(
        MONDAY, 10, 30
    )
    site.establishment.call_minutes = 30
    assert call_deadline(booking, site.establishment, local(MONDAY, 10, 5)) == local(MONDAY, 10, 30)


def test_it_finds_the_booking_of_a_room_now(booking, site, time_machine):
    other, contact = ready_detainee(site.quarter)
    following = book(site, MONDAY, 10, 30, detainee=other, contact=contact)
    assert current_booking(site.room, at=local(MONDAY, 9, 50)) is None
    assert current_booking(site.room, at=local(MONDAY, 9, 56)) == booking
    # At 10:27 the next booking's tolerance has begun, but the current one still runs.
    assert current_booking(site.room, at=local(MONDAY, 10, 27)) == booking
    assert current_booking(site.room, detainee=other, at=local(MONDAY, 10, 27)) == following
    assert current_booking(site.room, at=local(MONDAY, 10, 30)) == following
    time_machine.move_to(local(MONDAY, 10, 40), tick=False)
    assert current_booking(site.room) == following
