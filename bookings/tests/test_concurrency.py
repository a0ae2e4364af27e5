"""Many people booking at the same instant: exactly one wins, on whichever database runs."""

import threading
from datetime import date, time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from bookings.actions import do_book
from bookings.availability import Refusal
from bookings.models import Booking
from bookings.tests.factories import local, open_room, ready_detainee
from tests.factories import VideoRoomFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY = date(2027, 3, 1)
ATTEMPTS = 20


def race(attempts):
    """Run each attempt in its own thread and connection, all released at once."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list = [None] * len(attempts)

    def run(i, attempt):
        try:
            barrier.wait()
            outcomes[i] = attempt()
        except ValidationError as exc:
            outcomes[i] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_it_lets_exactly_one_of_many_concurrent_bookings_of_a_slot_win(time_machine):
    time_machine.move_to(local(DAY, 7), tick=False)
    site = open_room(opens=time(9), closes=time(12), weekly_quota=5)
    people = [(site.detainee, site.contact)] + [
        ready_detainee(site.quarter) for _ in range(ATTEMPTS - 1)
    ]
    slot = local(DAY, 10)

    outcomes = race(
        [
            lambda d=d, c=c: do_book(
                d, room=site.room, contact=c, starts_at=slot, booked_via="kiosk"
            )
            for d, c in people
        ]
    )

    winners = [o for o in outcomes if isinstance(o, Booking)]
    assert len(winners) == 1
    assert sorted(o for o in outcomes if not isinstance(o, Booking)) == [Refusal.ROOM_TAKEN] * (
        ATTEMPTS - 1
    )
    assert Booking.objects.filter(room=site.room, starts_at=slot).count() == 1


def test_it_lets_one_detainee_into_only_one_room_at_a_time(time_machine):
    time_machine.move_to(local(DAY, 7), tick=False)
    site = open_room(opens=time(9), closes=time(12), weekly_quota=5)
    rooms = [site.room] + [VideoRoomFactory(quarter=site.quarter) for _ in range(ATTEMPTS - 1)]
    slot = local(DAY, 10)

    outcomes = race(
        [
            lambda r=r: do_book(
                site.detainee, room=r, contact=site.contact, starts_at=slot, booked_via="kiosk"
            )
            for r in rooms
        ]
    )

    assert len([o for o in outcomes if isinstance(o, Booking)]) == 1
    assert sorted(o for o in outcomes if not isinstance(o, Booking)) == [Refusal.DETAINEE_BUSY] * (
        ATTEMPTS - 1
    )
    assert Booking.objects.filter(detainee=site.detainee).count() == 1
