"""The two Sundays a year when Europe/Paris changes its clocks (2027: 28 March, 31 October)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bookings.availability import free_slots, local_day_bounds
from bookings.models import OpeningHours
from bookings.tests.factories import PARIS, OpeningHoursFactory, local, open_room

pytestmark = pytest.mark.django_db

SPRING = date(2027, 3, 28)
AUTUMN = date(2027, 10, 31)


def night_room(day, opens=time(1), closes=time(4), **rules):
    site = open_room(**rules)
    OpeningHours.objects.filter(rules=site.rules).delete()
    OpeningHoursFactory(
        rules=None, room=site.room, weekday=day.weekday(), opens_at=opens, closes_at=closes
    )
    return site


def utc(slots):
    return [s.starts_at.astimezone(UTC).strftime("%H:%M") for s in slots]


def wall(slots):
    return [s.starts_at.astimezone(PARIS).strftime("%H:%M %Z") for s in slots]


def assert_no_overlap(slots, gap_minutes=0):
    for before, after in zip(slots, slots[1:], strict=False):
        assert after.starts_at >= before.ends_at + timedelta(minutes=gap_minutes)
    assert all(s.ends_at - s.starts_at == timedelta(minutes=30) for s in slots)


def test_it_skips_the_hour_that_does_not_exist_in_spring(time_machine):
    time_machine.move_to(local(SPRING - timedelta(days=7), 8), tick=False)
    site = night_room(SPRING)
    slots = free_slots(site.detainee, SPRING, SPRING)
    assert wall(slots) == ["01:00 CET", "01:30 CET", "03:00 CEST", "03:30 CEST"]
    assert utc(slots) == ["00:00", "00:30", "01:00", "01:30"]
    assert_no_overlap(slots)


def test_it_offers_the_repeated_autumn_hour_once(time_machine):
    time_machine.move_to(local(AUTUMN - timedelta(days=7), 8), tick=False)
    site = night_room(AUTUMN)
    slots = free_slots(site.detainee, AUTUMN, AUTUMN)
    assert wall(slots) == [
        "01:00 CEST",
        "01:30 CEST",
        "02:00 CEST",
        "02:30 CEST",
        "03:00 CET",
        "03:30 CET",
    ]
    assert utc(slots) == ["23:00", "23:30", "00:00", "00:30", "02:00", "02:30"]
    labels = [s.starts_at.astimezone(PARIS).strftime("%H:%M") for s in slots]
    assert len(labels) == len(set(labels))
    assert_no_overlap(slots)


def test_it_keeps_the_gap_in_real_time_across_the_spring_change(time_machine):
    time_machine.move_to(local(SPRING - timedelta(days=7), 8), tick=False)
    # Wall-clock steps of 70 minutes from 01:55 land on 03:05 CEST, only 40 real minutes
    # after 01:55 CET: that start would overlap the first slot and is left out.
    site = night_room(SPRING, opens=time(1, 55), closes=time(5), gap_minutes=40)
    slots = free_slots(site.detainee, SPRING, SPRING)
    assert wall(slots) == ["01:55 CET", "04:15 CEST"]
    assert_no_overlap(slots, gap_minutes=40)


def test_it_never_runs_past_a_closing_time_that_does_not_exist(time_machine):
    time_machine.move_to(local(SPRING - timedelta(days=7), 8), tick=False)
    site = night_room(SPRING, opens=time(1), closes=time(2, 30))
    assert wall(free_slots(site.detainee, SPRING, SPRING)) == ["01:00 CET"]


def test_it_keeps_daytime_slots_at_the_same_local_time_across_both_changes(time_machine):
    time_machine.move_to(local(SPRING - timedelta(days=7), 8), tick=False)
    site = open_room(
        opens=time(9), closes=time(10), max_days_ahead=90, weekly_quota=50, monthly_quota=200
    )
    for day in (SPRING, AUTUMN):
        time_machine.move_to(local(day - timedelta(days=7), 8), tick=False)
        slots = free_slots(site.detainee, day - timedelta(days=1), day + timedelta(days=1))
        assert [s.starts_at.astimezone(PARIS).strftime("%d %H:%M") for s in slots] == [
            f"{d:%d} {hm}"
            for d in (day - timedelta(days=1), day, day + timedelta(days=1))
            for hm in ("09:00", "09:30")
        ]
    spring_saturday = free_slots(site.detainee, SPRING - timedelta(days=1), SPRING + timedelta(1))
    assert spring_saturday == []  # the clock is now in October: March is past


def test_it_gives_the_change_days_their_real_length():
    start, end = local_day_bounds(SPRING, PARIS)
    assert end - start == timedelta(hours=23)
    start, end = local_day_bounds(AUTUMN, PARIS)
    assert end - start == timedelta(hours=25)
    assert start == datetime(2027, 10, 30, 22, tzinfo=UTC)
