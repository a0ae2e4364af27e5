"""Quotas per detainee, by local ISO week (Monday to Sunday) and local calendar month."""

from datetime import UTC, date, time, timedelta

import pytest
from django.core.exceptions import ValidationError

from bookings.actions import do_book
from bookings.availability import Refusal, free_slots
from bookings.models import Booking
from bookings.tests.factories import PARIS, BookingRulesFactory, booking_row, local, open_room
from tests.factories import VideoRoomFactory

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 3, 1)


@pytest.fixture(autouse=True)
def _first_of_march(time_machine):
    time_machine.move_to(local(MONDAY, 7), tick=False)


def site_with(**rules):
    # Open all day, 20-minute slots: 23:20 is the last slot before midnight.
    rules.setdefault("max_days_ahead", 60)
    return open_room(opens=time(0), closes=time(23, 59), slot_minutes=20, **rules)


def book(site, day, hh, mm=0, room=None):
    return do_book(
        site.detainee,
        room=room or site.room,
        contact=site.contact,
        starts_at=local(day, hh, mm),
        booked_via="kiosk",
    )


def days_offered(site, first, last):
    return {s.starts_at.astimezone(PARIS).date() for s in free_slots(site.detainee, first, last)}


def test_it_allows_up_to_the_weekly_quota_and_not_one_more():
    site = site_with(weekly_quota=2, monthly_quota=10)
    book(site, MONDAY, 10)
    assert MONDAY + timedelta(days=1) in days_offered(site, MONDAY, MONDAY + timedelta(days=6))
    book(site, MONDAY + timedelta(days=1), 10)
    assert days_offered(site, MONDAY, MONDAY + timedelta(days=6)) == set()
    with pytest.raises(ValidationError) as excinfo:
        book(site, MONDAY + timedelta(days=2), 10)
    assert excinfo.value.code == Refusal.WEEKLY_QUOTA
    # The next week starts afresh, in any room.
    assert book(site, MONDAY + timedelta(days=7), 10, room=VideoRoomFactory(quarter=site.quarter))


def test_it_counts_weeks_in_local_time_not_utc():
    site = site_with(weekly_quota=1, monthly_quota=10)
    sunday = MONDAY + timedelta(days=6)
    book(site, sunday, 23, 20)
    # Monday 00:00 in Paris is still Sunday in UTC: it belongs to the next week all the same.
    next_monday = local(sunday + timedelta(days=1), 0)
    assert next_monday.astimezone(UTC).date() == sunday
    slots = free_slots(site.detainee, sunday, sunday + timedelta(days=1))
    assert slots[0].starts_at == next_monday
    assert all(s.starts_at.astimezone(PARIS).date() != sunday for s in slots)


def test_it_allows_up_to_the_monthly_quota_and_counts_months_in_local_time():
    site = site_with(weekly_quota=3, monthly_quota=3)
    march_30, march_31 = date(2027, 3, 30), date(2027, 3, 31)
    book(site, date(2027, 3, 24), 10)
    book(site, march_30, 10)
    book(site, march_31, 23, 20)
    assert days_offered(site, date(2027, 3, 29), date(2027, 4, 1)) == {date(2027, 4, 1)}
    # 1 April 00:00 in Paris (summer time) is 31 March 22:00 UTC: April's quota.
    slots = free_slots(site.detainee, march_31, date(2027, 4, 1))
    assert slots[0].starts_at == local(date(2027, 4, 1), 0)
    with pytest.raises(ValidationError) as excinfo:
        book(site, date(2027, 3, 29), 10)
    assert excinfo.value.code == Refusal.MONTHLY_QUOTA


def test_it_does_not_count_cancelled_bookings_but_counts_no_shows():
    site = site_with(weekly_quota=2, monthly_quota=10)
    booking_row(site, local(MONDAY, 10), status=Booking.Status.CANCELLED)
    booking_row(site, local(MONDAY, 11), status=Booking.Status.NO_SHOW)
    assert days_offered(site, MONDAY, MONDAY + timedelta(days=6))
    booking_row(site, local(MONDAY, 12), status=Booking.Status.COMPLETED)
    assert days_offered(site, MONDAY, MONDAY + timedelta(days=6)) == set()


def test_it_takes_the_quota_from_the_detainees_quarter():
    site = site_with(weekly_quota=1, monthly_quota=10)
    BookingRulesFactory(
        establishment=site.establishment, quarter=site.quarter, weekly_quota=2, monthly_quota=10
    )
    # The quarter's row replaces the establishment's, hours aside (they stay inherited).
    book(site, MONDAY, 10)
    assert book(site, MONDAY + timedelta(days=1), 10)
