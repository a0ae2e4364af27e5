from datetime import date, time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEvent
from bookings.actions import do_book
from bookings.availability import Refusal
from bookings.models import Booking, BookingTransition
from bookings.tests.factories import (
    BookingRulesFactory,
    ClosureFactory,
    local,
    open_room,
    ready_detainee,
)
from notify.models import Message
from people.models import AuthorizedContact, Role
from tests.factories import ContactFactory, VideoRoomFactory, staff_with_role

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 3, 1)


@pytest.fixture(autouse=True)
def _monday_morning(time_machine):
    time_machine.move_to(local(MONDAY, 7), tick=False)


def book(site, hh=10, mm=0, **kwargs):
    kwargs.setdefault("room", site.room)
    kwargs.setdefault("contact", site.contact)
    kwargs.setdefault("booked_via", "kiosk")
    return do_book(site.detainee, starts_at=local(MONDAY, hh, mm), **kwargs)


def refusal_of(call):
    with pytest.raises(ValidationError) as excinfo:
        call()
    return excinfo.value.code


def test_it_books_at_the_kiosk_without_a_staff_user():
    site = open_room(call_tolerance_minutes=7)
    booking = book(site)
    assert booking.status == Booking.Status.BOOKED
    assert booking.booked_via == "kiosk" and booking.booked_by is None
    assert booking.ends_at == local(MONDAY, 10, 30)
    assert booking.tolerance_minutes == 7
    assert len(booking.token) >= 40
    transition = BookingTransition.objects.get(booking=booking)
    assert (transition.from_status, transition.to_status, transition.via) == ("", "booked", "kiosk")
    event = AuditEvent.objects.get(action="booking.made")
    assert event.actor is None and event.actor_label == "kiosk"
    assert event.data["contact"] == site.contact.pk
    assert Message.objects.get().purpose == Message.Purpose.BOOKING_MADE


def test_it_books_for_the_detainee_as_staff_with_the_right():
    site = open_room()
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment)
    booking = book(site, booked_via="staff", actor=officer)
    assert booking.booked_by == officer
    assert AuditEvent.objects.get(action="booking.made").actor == officer


def test_it_refuses_staff_without_the_right_or_from_another_establishment():
    site = open_room()
    guard = staff_with_role(Role.Name.GUARD, site.establishment)
    elsewhere = staff_with_role(Role.Name.BOOKING_OFFICER, open_room().establishment)
    for actor in (guard, elsewhere):
        with pytest.raises(PermissionDenied):
            book(site, booked_via="staff", actor=actor)
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    "who,kiosk_ok,staff_ok", [("kiosk", True, False), ("staff", False, True), ("both", True, True)]
)
def test_it_enforces_who_may_book(who, kiosk_ok, staff_ok):
    site = open_room(who_may_book=who)
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment)
    kiosk = lambda: book(site, 10)  # noqa: E731
    staff = lambda: book(site, 11, booked_via="staff", actor=officer)  # noqa: E731
    for allowed, call in ((kiosk_ok, kiosk), (staff_ok, staff)):
        if allowed:
            assert call().pk
        else:
            assert refusal_of(call) == Refusal.NOT_ALLOWED_VIA


def test_it_lets_a_room_rule_override_the_quarter_and_the_establishment():
    site = open_room(who_may_book="both", slot_minutes=30)
    BookingRulesFactory(
        establishment=site.establishment, quarter=site.quarter, who_may_book="staff"
    )
    assert refusal_of(lambda: book(site, 10)) == Refusal.NOT_ALLOWED_VIA
    BookingRulesFactory(
        establishment=site.establishment, room=site.room, who_may_book="kiosk", slot_minutes=20
    )
    booking = book(site, 10)
    # The room's own row applies; its hours still come from the establishment's rules.
    assert booking.ends_at == local(MONDAY, 10, 20)


def test_it_needs_an_approved_contact_of_the_same_detainee():
    site = open_room()
    _other, strangers_contact = ready_detainee(site.quarter)
    requested = ContactFactory(detainee=site.detainee, status=AuthorizedContact.Status.REQUESTED)
    for contact in (strangers_contact, requested):
        assert refusal_of(lambda c=contact: book(site, contact=c)) == "contact"


def test_it_refuses_a_time_that_is_not_a_slot_or_a_room_of_another_quarter():
    site = open_room(opens=time(9), closes=time(12))
    assert refusal_of(lambda: book(site, 10, 10)) == Refusal.NOT_A_SLOT
    assert refusal_of(lambda: book(site, 12)) == Refusal.NOT_A_SLOT
    other_room = VideoRoomFactory(quarter__establishment=site.establishment)
    assert refusal_of(lambda: book(site, room=other_room)) == Refusal.WRONG_QUARTER


def test_it_refuses_closed_taken_and_busy_slots_with_clear_messages():
    site = open_room()
    ClosureFactory(
        establishment=site.establishment, starts_at=local(MONDAY, 11), ends_at=local(MONDAY, 12)
    )
    assert refusal_of(lambda: book(site, 11)) == Refusal.CLOSED
    other, contact = ready_detainee(site.quarter)
    do_book(other, room=site.room, contact=contact, starts_at=local(MONDAY, 10), booked_via="kiosk")
    with pytest.raises(ValidationError) as excinfo:
        book(site, 10)
    assert excinfo.value.messages == ["Ce créneau vient d'être réservé."]
    book(site, 9)
    second_room = VideoRoomFactory(quarter=site.quarter)
    assert refusal_of(lambda: book(site, 9, room=second_room)) == Refusal.DETAINEE_BUSY


def test_it_sends_a_lawyer_call_to_a_lawyer_room():
    site = open_room()
    lawyer = ContactFactory(detainee=site.detainee, relationship="lawyer")
    lawyers_room = VideoRoomFactory(quarter=site.quarter, for_lawyers=True)
    assert refusal_of(lambda: book(site, contact=lawyer)) == Refusal.WRONG_ROOM_KIND
    assert refusal_of(lambda: book(site, room=lawyers_room)) == Refusal.WRONG_ROOM_KIND
    assert book(site, contact=lawyer, room=lawyers_room).room == lawyers_room


def test_it_refuses_naive_times_and_a_kiosk_booking_that_names_a_staff_user():
    site = open_room()
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment)
    with pytest.raises(ValueError):
        do_book(
            site.detainee,
            room=site.room,
            contact=site.contact,
            starts_at=local(MONDAY, 10).replace(tzinfo=None),
            booked_via="kiosk",
        )
    with pytest.raises(ValueError):
        book(site, actor=officer)
