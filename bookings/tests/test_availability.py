from datetime import date, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings.availability import Availability, Refusal, free_slots
from bookings.models import Booking, OpeningHours
from bookings.tests.factories import (
    PARIS,
    BookingRulesFactory,
    ClosureFactory,
    OpeningHoursFactory,
    booking_row,
    local,
    open_room,
    ready_detainee,
)
from people.models import Detainee, Suspension
from tests.factories import StaffFactory, VideoRoomFactory

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 3, 1)


@pytest.fixture
def now(time_machine):
    time_machine.move_to(local(MONDAY, 7), tick=False)
    return local(MONDAY, 7)


def starts(slots, zone=PARIS):
    return [s.starts_at.astimezone(zone).strftime("%d %H:%M") for s in slots]


def test_it_lists_the_slots_of_the_opening_hours(now):
    site = open_room(opens=time(9), closes=time(11))
    slots = free_slots(site.detainee, MONDAY, MONDAY)
    assert starts(slots) == ["01 09:00", "01 09:30", "01 10:00", "01 10:30"]
    assert all(s.ends_at - s.starts_at == timedelta(minutes=30) for s in slots)
    assert all(s.room == site.room for s in slots)


def test_it_leaves_the_gap_between_slots_and_never_runs_past_closing(now):
    site = open_room(opens=time(9), closes=time(11), slot_minutes=25, gap_minutes=10)
    assert starts(free_slots(site.detainee, MONDAY, MONDAY)) == [
        "01 09:00",
        "01 09:35",
        "01 10:10",
    ]


def test_it_uses_several_windows_a_day_and_only_their_weekdays(now):
    site = open_room(opens=time(9), closes=time(10))
    OpeningHours.objects.filter(rules=site.rules).exclude(weekday=1).delete()
    OpeningHoursFactory(rules=site.rules, weekday=1, opens_at=time(14), closes_at=time(15))
    slots = free_slots(site.detainee, MONDAY, MONDAY + timedelta(days=2))
    assert starts(slots) == ["02 09:00", "02 09:30", "02 14:00", "02 14:30"]


def test_it_never_offers_overlapping_slots_when_windows_overlap(now):
    site = open_room(opens=time(9), closes=time(10))
    OpeningHoursFactory(rules=site.rules, weekday=0, opens_at=time(9, 15), closes_at=time(11))
    assert starts(free_slots(site.detainee, MONDAY, MONDAY)) == [
        "01 09:00",
        "01 09:30",
        "01 10:15",
    ]


def test_it_respects_the_notice_and_the_horizon(time_machine):
    time_machine.move_to(local(MONDAY, 9, 10), tick=False)
    site = open_room(opens=time(9), closes=time(12), min_notice_minutes=60, max_days_ahead=2)
    slots = free_slots(site.detainee, MONDAY - timedelta(days=3), MONDAY + timedelta(days=10))
    days = {s.starts_at.astimezone(PARIS).date() for s in slots}
    assert days == {MONDAY, MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)}
    assert starts(slots)[:2] == ["01 10:30", "01 11:00"]


def test_it_offers_only_the_rooms_of_the_detainees_quarter_in_service(now):
    site = open_room()
    other_quarter_room = VideoRoomFactory(quarter__establishment=site.establishment)
    broken = VideoRoomFactory(quarter=site.quarter, in_service=False)
    lawyers = VideoRoomFactory(quarter=site.quarter, for_lawyers=True)
    rooms = {s.room for s in free_slots(site.detainee, MONDAY, MONDAY)}
    assert rooms == {site.room}
    assert {s.room for s in free_slots(site.detainee, MONDAY, MONDAY, for_lawyer=True)} == {lawyers}
    assert other_quarter_room not in rooms and broken not in rooms


def test_it_removes_closures_of_the_room_the_quarter_and_the_establishment(now):
    site = open_room(opens=time(9), closes=time(12))
    ClosureFactory(
        establishment=site.establishment,
        room=site.room,
        starts_at=local(MONDAY, 9),
        ends_at=local(MONDAY, 9, 45),
    )
    ClosureFactory(
        establishment=site.establishment,
        quarter=site.quarter,
        starts_at=local(MONDAY, 10, 15),
        ends_at=local(MONDAY, 10, 30),
    )
    ClosureFactory(
        establishment=site.establishment,
        starts_at=local(MONDAY, 11, 30),
        ends_at=local(MONDAY, 13),
    )
    # Another room's closure and another establishment's do not count.
    ClosureFactory(
        establishment=site.establishment,
        room=VideoRoomFactory(quarter=site.quarter),
        starts_at=local(MONDAY, 9),
        ends_at=local(MONDAY, 12),
    )
    ClosureFactory(starts_at=local(MONDAY, 9), ends_at=local(MONDAY, 12))
    assert starts(
        [s for s in free_slots(site.detainee, MONDAY, MONDAY) if s.room == site.room]
    ) == ["01 10:30", "01 11:00"]


def test_it_removes_taken_slots_and_the_detainees_other_bookings(now):
    site = open_room(opens=time(9), closes=time(11))
    second_room = VideoRoomFactory(quarter=site.quarter)
    other, other_contact = ready_detainee(site.quarter)
    booking_row(site, local(MONDAY, 9), detainee=other, contact=other_contact)
    booking_row(site, local(MONDAY, 10), room=second_room)
    booking_row(
        site,
        local(MONDAY, 10, 30),
        detainee=other,
        contact=other_contact,
        status=Booking.Status.CANCELLED,
    )
    free = {(s.room, starts(s and [s])[0]) for s in free_slots(site.detainee, MONDAY, MONDAY)}
    assert (site.room, "01 09:00") not in free  # another detainee has it
    assert (site.room, "01 10:00") not in free  # he is in the other room then
    assert (second_room, "01 10:00") not in free
    assert (site.room, "01 10:30") in free  # a cancelled booking frees the slot
    assert (second_room, "01 09:00") in free


def test_it_offers_nothing_while_suspended_and_again_after(now):
    site = open_room(opens=time(9), closes=time(11))
    Suspension.objects.create(
        detainee=site.detainee,
        starts_at=local(MONDAY, 9, 30),
        ends_at=local(MONDAY + timedelta(days=1), 10),
        reason="Incident",
        decided_by=StaffFactory(),
    )
    slots = free_slots(site.detainee, MONDAY, MONDAY + timedelta(days=1))
    assert starts(slots) == ["01 09:00", "02 10:00", "02 10:30"]


def test_it_ignores_a_lifted_suspension(now):
    site = open_room(opens=time(9), closes=time(10))
    staff = StaffFactory()
    Suspension.objects.create(
        detainee=site.detainee,
        starts_at=local(MONDAY, 0),
        ends_at=local(MONDAY, 23),
        reason="Incident",
        decided_by=staff,
        lifted_at=local(MONDAY, 6),
        lifted_by=staff,
        lift_reason="Erreur",
    )
    assert len(free_slots(site.detainee, MONDAY, MONDAY)) == 2


def test_it_offers_nothing_to_a_detainee_who_left_or_has_no_active_account(now):
    site = open_room()
    site.detainee.account.active = False
    site.detainee.account.save(update_fields=["active"])
    assert free_slots(site.detainee, MONDAY, MONDAY) == []
    other, _contact = ready_detainee(site.quarter, status=Detainee.Status.TRANSFERRED)
    assert free_slots(other, MONDAY, MONDAY) == []


def test_it_drops_rooms_whose_rules_refuse_that_side(now):
    site = open_room(who_may_book="staff")
    assert free_slots(site.detainee, MONDAY, MONDAY, via="kiosk") == []
    assert free_slots(site.detainee, MONDAY, MONDAY, via="staff")


def test_it_says_why_a_slot_cannot_be_booked(now):
    site = open_room(opens=time(9), closes=time(10))
    engine = Availability(site.detainee, MONDAY, MONDAY)
    assert engine.refusal(site.room, local(MONDAY, 9)) is None
    assert engine.refusal(site.room, local(MONDAY, 9, 10)) == Refusal.NOT_A_SLOT
    assert engine.refusal(site.room, local(MONDAY, 6)) == Refusal.NOT_A_SLOT


def test_it_needs_a_handful_of_queries_whatever_the_size(now):
    site = open_room(opens=time(8), closes=time(18))
    for _ in range(6):
        VideoRoomFactory(quarter=site.quarter)
    room = VideoRoomFactory(quarter=site.quarter)
    room_rules = BookingRulesFactory(establishment=site.establishment, room=room, slot_minutes=20)
    OpeningHoursFactory(rules=room_rules, weekday=2, opens_at=time(8), closes_at=time(9))
    ClosureFactory(
        establishment=site.establishment, starts_at=local(MONDAY, 8), ends_at=local(MONDAY, 9)
    )
    site.detainee.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        slots = free_slots(site.detainee, MONDAY, MONDAY + timedelta(days=13))
    assert len(slots) > 1000
    assert len(queries) <= 10


def test_it_agrees_with_the_one_slot_check_on_every_candidate(time_machine):
    # free_slots() is the fast path of refusal(): on a busy week they must never differ.
    time_machine.move_to(local(MONDAY, 9, 40), tick=False)
    site = open_room(opens=time(9), closes=time(12), weekly_quota=2, max_days_ahead=5)
    second = VideoRoomFactory(quarter=site.quarter)
    other, other_contact = ready_detainee(site.quarter)
    booking_row(site, local(MONDAY + timedelta(days=1), 10), detainee=other, contact=other_contact)
    booking_row(site, local(MONDAY + timedelta(days=2), 11), room=second)
    ClosureFactory(
        establishment=site.establishment,
        room=second,
        starts_at=local(MONDAY + timedelta(days=3), 9),
        ends_at=local(MONDAY + timedelta(days=3), 10, 15),
    )
    engine = Availability(site.detainee, MONDAY, MONDAY + timedelta(days=9))
    free = {(s.room.pk, s.starts_at) for s in engine.free_slots()}
    checked = 0
    for room in (site.room, second):
        for day in engine.days():
            for start, _end in engine.candidates(room, day):
                assert ((room.pk, start) in free) == (engine.refusal(room, start) is None)
                checked += 1
    assert checked == 2 * 10 * 6 and 0 < len(free) < checked
