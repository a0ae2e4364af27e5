from datetime import datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEvent
from bookings.actions import (
    do_cancel_booking,
    do_complete_booking,
    do_mark_no_show,
    do_move_booking,
)
from bookings.availability import Refusal
from bookings.models import Booking, BookingTransition
from bookings.tests.conftest import MONDAY
from bookings.tests.factories import book, local, ready_detainee
from notify.models import Message
from people.models import Role
from tests.factories import VideoRoomFactory, staff_with_role

pytestmark = pytest.mark.django_db


def code_of(call):
    with pytest.raises(ValidationError) as excinfo:
        call()
    return excinfo.value.code


def test_it_cancels_at_the_kiosk_before_the_deadline_with_a_reason(booking):
    assert code_of(lambda: do_cancel_booking(booking, reason=" ", via="kiosk")) == "reason"
    do_cancel_booking(booking, reason="Mon proche ne peut pas", via="kiosk")
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED and booking.sequence == 1
    last = booking.transitions.last()
    assert (last.from_status, last.to_status, last.via) == ("booked", "cancelled", "kiosk")
    assert last.reason == "Mon proche ne peut pas"
    assert AuditEvent.objects.filter(action="booking.cancelled").count() == 1
    assert Message.objects.filter(purpose=Message.Purpose.BOOKING_CANCELLED).count() == 1


def test_it_refuses_a_kiosk_cancellation_after_the_deadline_but_lets_staff_cancel(
    booking, site, time_machine
):
    time_machine.move_to(local(MONDAY, 8, 1), tick=False)
    assert code_of(lambda: do_cancel_booking(booking, reason="x", via="kiosk")) == (
        "cancel_deadline"
    )
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment)
    do_cancel_booking(booking, reason="Incident en détention", via="staff", actor=officer)
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert booking.transitions.last().by == officer


def test_it_refuses_staff_cancellation_without_the_right(booking, site):
    guard = staff_with_role(Role.Name.GUARD, site.establishment)
    with pytest.raises(PermissionDenied):
        do_cancel_booking(booking, reason="x", via="staff", actor=guard)


def test_it_follows_the_state_machine(booking, site, time_machine):
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment)
    assert code_of(lambda: do_mark_no_show(booking, actor=officer)) == "not_started"
    time_machine.move_to(local(MONDAY, 10, 10), tick=False)
    do_mark_no_show(booking, actor=officer, reason="Pas venu")
    booking.refresh_from_db()
    assert booking.status == Booking.Status.NO_SHOW
    for call in (
        lambda: do_cancel_booking(booking, reason="x", via="staff", actor=officer),
        lambda: do_complete_booking(booking),
        lambda: do_mark_no_show(booking, actor=officer),
    ):
        assert code_of(call) == "transition"
    assert [t.to_status for t in BookingTransition.objects.filter(booking=booking)] == [
        "booked",
        "no_show",
    ]


def test_it_lets_a_guard_record_a_no_show_and_the_call_layer_complete(site, time_machine):
    other, contact = ready_detainee(site.quarter)
    first = book(site, MONDAY, 9, detainee=other, contact=contact)
    second = book(site, MONDAY, 11)
    time_machine.move_to(local(MONDAY, 11, 5), tick=False)
    do_mark_no_show(first, actor=staff_with_role(Role.Name.GUARD, site.establishment))
    do_complete_booking(second)
    assert {b.status for b in Booking.objects.all()} == {"no_show", "completed"}
    assert AuditEvent.objects.get(action="booking.completed").actor_label == "system"
    auditor = staff_with_role(Role.Name.AUDITOR, site.establishment)
    with pytest.raises(PermissionDenied):
        do_mark_no_show(first, actor=auditor)


def test_it_moves_a_booking_keeping_its_link_and_telling_the_relative(booking, site):
    token = booking.token
    room = VideoRoomFactory(quarter=site.quarter)
    moved = do_move_booking(booking, starts_at=local(MONDAY, 11), room=room, via="kiosk")
    assert (moved.room, moved.starts_at, moved.token, moved.sequence) == (
        room,
        local(MONDAY, 11),
        token,
        1,
    )
    last = moved.transitions.last()
    assert last.moved and datetime.fromisoformat(last.data["previous"]["starts_at"]) == local(
        MONDAY, 10
    )
    message = Message.objects.get(purpose=Message.Purpose.BOOKING_MOVED)
    assert "10:00" in message.text and "11:00" in message.text


def test_it_moves_onto_an_overlapping_slot_of_its_own(booking, site):
    # Moving by half an hour frees the old slot: the booking does not block itself,
    # nor count twice in the quota.
    site.rules.weekly_quota = 1
    site.rules.save(update_fields=["weekly_quota"])
    assert do_move_booking(booking, starts_at=local(MONDAY, 10, 30), via="kiosk").pk


def test_it_refuses_a_move_onto_a_taken_slot_or_after_the_deadline(booking, site, time_machine):
    other, contact = ready_detainee(site.quarter)
    book(site, MONDAY, 11, detainee=other, contact=contact)
    assert code_of(lambda: do_move_booking(booking, starts_at=local(MONDAY, 11), via="kiosk")) == (
        Refusal.ROOM_TAKEN
    )
    time_machine.move_to(local(MONDAY, 8, 30), tick=False)
    assert code_of(
        lambda: do_move_booking(booking, starts_at=local(MONDAY, 11, 30), via="kiosk")
    ) == ("cancel_deadline")
    booking.refresh_from_db()
    assert booking.starts_at == local(MONDAY, 10)


def test_it_refuses_to_cancel_a_past_booking(booking, site, time_machine):
    time_machine.move_to(local(MONDAY, 10) + timedelta(minutes=31), tick=False)
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment)
    assert (
        code_of(lambda: do_cancel_booking(booking, reason="x", via="staff", actor=officer))
        == "past"
    )
