from datetime import date, time

import pytest

from bookings.tests.factories import book, local, open_room

MONDAY = date(2027, 3, 1)


@pytest.fixture
def site(time_machine):
    """Monday 1 March 2027, 07:00 in Paris; one room open 09:00–12:00 every day."""
    time_machine.move_to(local(MONDAY, 7), tick=False)
    return open_room(opens=time(9), closes=time(12), weekly_quota=5)


@pytest.fixture
def booking(site):
    """The site's detainee has booked 10:00–10:30 on that Monday at the kiosk."""
    return book(site, MONDAY, 10)
