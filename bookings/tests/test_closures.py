from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEvent
from bookings.actions import do_add_closure
from bookings.availability import free_slots
from bookings.models import Booking, Closure
from bookings.tests.conftest import MONDAY
from bookings.tests.factories import PARIS, book, local, open_room, ready_detainee
from notify.models import Message
from people.models import Role
from tests.factories import QuarterFactory, VideoRoomFactory, staff_with_role

pytestmark = pytest.mark.django_db


def test_it_closes_a_room_cancels_what_it_covers_and_tells_the_relatives(site):
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment)
    other, contact = ready_detainee(site.quarter)
    covered = book(site, MONDAY, 10)
    spared = book(site, MONDAY, 11, detainee=other, contact=contact)
    closure = do_add_closure(
        site.establishment,
        kind=Closure.Kind.OUT_OF_SERVICE,
        starts=local(MONDAY, 9, 45),
        ends=local(MONDAY, 10, 45),
        room=site.room,
        reason="Écran cassé",
        actor=officer,
    )
    covered.refresh_from_db()
    spared.refresh_from_db()
    assert covered.status == "cancelled" and spared.status == "booked"
    assert covered.transitions.last().data == {"closure": closure.pk}
    assert covered.transitions.last().reason == "Écran cassé"
    cancelled = Message.objects.get(purpose="booking_cancelled")
    assert cancelled.contact == site.contact
    assert AuditEvent.objects.filter(action="closure.added").count() == 1
    assert [s.starts_at for s in free_slots(site.detainee, MONDAY, MONDAY)] == [
        local(MONDAY, 9),
        local(MONDAY, 11, 30),
    ]


def test_it_closes_a_whole_local_day_for_a_public_holiday(site):
    tuesday = date(2027, 3, 2)
    quarter_room = VideoRoomFactory(quarter=site.quarter)
    on_holiday = book(site, tuesday, 9, room=quarter_room)
    monday = book(site, MONDAY, 11)
    closure = do_add_closure(
        site.establishment,
        kind=Closure.Kind.PUBLIC_HOLIDAY,
        starts=tuesday,
        ends=tuesday,
        reason="Jour férié",
        actor=None,
    )
    assert closure.starts_at == local(tuesday, 0) and closure.ends_at == local(date(2027, 3, 3), 0)
    on_holiday.refresh_from_db()
    monday.refresh_from_db()
    assert (on_holiday.status, monday.status) == ("cancelled", "booked")
    days = {
        s.starts_at.astimezone(PARIS).date()
        for s in free_slots(site.detainee, MONDAY, date(2027, 3, 3))
    }
    assert tuesday not in days and date(2027, 3, 3) in days


def test_it_closes_one_quarter_only(site):
    other_quarter = QuarterFactory(establishment=site.establishment)
    VideoRoomFactory(quarter=other_quarter)
    booking = book(site, MONDAY, 10)
    do_add_closure(
        site.establishment,
        kind=Closure.Kind.EXCEPTIONAL,
        starts=MONDAY,
        ends=MONDAY,
        quarter=other_quarter,
        reason="Exercice",
        actor=None,
    )
    booking.refresh_from_db()
    assert booking.status == "booked"


def test_it_leaves_past_and_begun_bookings_alone(site, time_machine):
    booking = book(site, MONDAY, 10)
    time_machine.move_to(local(MONDAY, 10, 5), tick=False)
    do_add_closure(
        site.establishment,
        kind=Closure.Kind.EXCEPTIONAL,
        starts=MONDAY,
        ends=MONDAY,
        reason="Mouvement social",
        actor=None,
    )
    booking.refresh_from_db()
    assert booking.status == Booking.Status.BOOKED


def test_it_refuses_closures_without_right_reason_or_order(site):
    guard = staff_with_role(Role.Name.GUARD, site.establishment)
    kwargs = dict(kind=Closure.Kind.EXCEPTIONAL, starts=MONDAY, ends=MONDAY, reason="x")
    with pytest.raises(PermissionDenied):
        do_add_closure(site.establishment, actor=guard, **kwargs)
    with pytest.raises(ValidationError):
        do_add_closure(site.establishment, actor=None, **{**kwargs, "reason": ""})
    with pytest.raises(ValidationError):
        do_add_closure(site.establishment, actor=None, **{**kwargs, "starts": date(2027, 3, 2)})
    elsewhere = open_room().room
    with pytest.raises(ValidationError):
        do_add_closure(site.establishment, actor=None, room=elsewhere, **kwargs)
    assert not Closure.objects.exists()
