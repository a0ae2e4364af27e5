"""The database itself refuses double bookings, whatever code writes the rows."""

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from bookings.db import DETAINEE_OVERLAP, ROOM_OVERLAP, install_overlap_guards, overlap_guard_name
from bookings.models import Booking
from bookings.tests.factories import booking_row, local, open_room, ready_detainee
from tests.factories import VideoRoomFactory

pytestmark = pytest.mark.django_db

DAY = date(2027, 3, 1)


def refused(write) -> str | None:
    try:
        with transaction.atomic():
            write()
    except IntegrityError as exc:
        return overlap_guard_name(exc)
    return None


def test_it_refuses_two_active_bookings_of_one_room_that_overlap():
    site = open_room()
    other, contact = ready_detainee(site.quarter)
    booking_row(site, local(DAY, 10))
    assert (
        refused(lambda: booking_row(site, local(DAY, 10, 15), detainee=other, contact=contact))
        == ROOM_OVERLAP
    )
    assert Booking.objects.count() == 1


def test_it_refuses_one_detainee_in_two_rooms_at_once():
    site = open_room()
    booking_row(site, local(DAY, 10))
    elsewhere = VideoRoomFactory(quarter=site.quarter)
    assert refused(lambda: booking_row(site, local(DAY, 9, 45), room=elsewhere)) == (
        DETAINEE_OVERLAP
    )


def test_it_allows_back_to_back_and_cancelled_overlaps():
    site = open_room()
    other, contact = ready_detainee(site.quarter)
    first = booking_row(site, local(DAY, 10))
    booking_row(site, local(DAY, 10, 30))
    booking_row(site, local(DAY, 9, 30), detainee=other, contact=contact)
    first.status = Booking.Status.CANCELLED
    first.save(update_fields=["status"])
    booking_row(site, local(DAY, 10), detainee=other, contact=contact, minutes=20)
    assert Booking.objects.exclude(status="cancelled").count() == 3


def test_it_refuses_an_update_that_creates_an_overlap_or_revives_a_cancelled_one():
    site = open_room()
    other, contact = ready_detainee(site.quarter)
    mine = booking_row(site, local(DAY, 10))
    theirs = booking_row(site, local(DAY, 11), detainee=other, contact=contact)

    def move():
        theirs.starts_at = local(DAY, 10, 20)
        theirs.ends_at = local(DAY, 10, 50)
        theirs.save(update_fields=["starts_at", "ends_at"])

    assert refused(move) == ROOM_OVERLAP
    mine.status = Booking.Status.CANCELLED
    mine.save(update_fields=["status"])
    move()
    assert refused(lambda: Booking.objects.filter(pk=mine.pk).update(status="booked")) == (
        ROOM_OVERLAP
    )
    # A booking may be updated without counting itself as an overlap.
    theirs.ends_at += timedelta(minutes=-5)
    theirs.save(update_fields=["ends_at"])


def test_it_survives_a_reinstall_of_the_guards():
    install_overlap_guards(connection)
    site = open_room()
    booking_row(site, local(DAY, 10))
    other, contact = ready_detainee(site.quarter)
    assert (
        refused(lambda: booking_row(site, local(DAY, 10), detainee=other, contact=contact))
        == ROOM_OVERLAP
    )
