"""When people change (contact revoked, suspension, transfer, release), bookings follow."""

from datetime import date

import pytest

from bookings.models import Booking
from bookings.tests.conftest import MONDAY
from bookings.tests.factories import book, local
from notify.models import Message
from people.actions import (
    do_change_detainee_status,
    do_decide_contact,
    do_move_detainee,
    do_suspend,
)
from people.models import Detainee, Role
from tests.factories import ContactFactory, QuarterFactory, VideoRoomFactory, staff_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def director(site):
    return staff_with_role(Role.Name.DIRECTOR, site.establishment)


def statuses(*bookings):
    return [Booking.objects.get(pk=b.pk).status for b in bookings]


def cancelled_to():
    return [m.contact for m in Message.objects.filter(purpose="booking_cancelled")]


@pytest.mark.parametrize("status", [Detainee.Status.TRANSFERRED, Detainee.Status.RELEASED])
def test_it_cancels_the_future_bookings_of_a_detainee_who_leaves(
    site, director, time_machine, status
):
    begun = book(site, MONDAY, 9)
    later = book(site, date(2027, 3, 3), 10)
    time_machine.move_to(local(MONDAY, 9, 10), tick=False)
    do_change_detainee_status(site.detainee, status, actor=director)
    assert statuses(begun, later) == ["booked", "cancelled"]
    assert cancelled_to() == [site.contact]
    transition = Booking.objects.get(pk=later.pk).transitions.last()
    assert transition.by == director and transition.data == {"detainee_status": status}


def test_it_cancels_the_bookings_a_suspension_covers(site, director):
    before = book(site, MONDAY, 9)
    during = book(site, date(2027, 3, 2), 10)
    after = book(site, date(2027, 3, 4), 10)
    do_suspend(
        site.detainee,
        starts_at=local(MONDAY, 12),
        ends_at=local(date(2027, 3, 3), 12),
        reason="Incident au parloir",
        actor=director,
    )
    assert statuses(before, during, after) == ["booked", "cancelled", "booked"]
    text = Message.objects.get(purpose="booking_cancelled").text
    assert "Incident" not in text


def test_it_cancels_the_bookings_with_a_revoked_contact_only(site, director):
    other = ContactFactory(detainee=site.detainee)
    with_revoked = book(site, MONDAY, 9)
    with_other = book(site, MONDAY, 10, contact=other)
    do_decide_contact(site.contact, "revoked", reason="Menaces", actor=director)
    assert statuses(with_revoked, with_other) == ["cancelled", "booked"]
    assert cancelled_to() == [site.contact]


def test_it_cancels_the_bookings_in_the_rooms_of_the_quarter_a_detainee_leaves(
    site, director, time_machine
):
    begun = book(site, MONDAY, 9)
    later = book(site, date(2027, 3, 3), 10)
    time_machine.move_to(local(MONDAY, 9, 10), tick=False)
    new_quarter = QuarterFactory(establishment=site.establishment)
    VideoRoomFactory(quarter=new_quarter)
    do_move_detainee(site.detainee, new_quarter, actor=director)
    # The call under way goes on; the later one could never take place.
    assert statuses(begun, later) == ["booked", "cancelled"]
    assert cancelled_to() == [site.contact]
    transition = Booking.objects.get(pk=later.pk).transitions.last()
    assert transition.by == director and transition.data == {"quarter": new_quarter.pk}
