"""Rules per establishment, overridden per quarter or room; the database keeps them sane."""

from datetime import time

import pytest
from django.db import IntegrityError, transaction

from bookings.availability import RulesBook
from bookings.models import BookingRules
from bookings.tests.factories import BookingRulesFactory, OpeningHoursFactory
from tests.factories import EstablishmentFactory, QuarterFactory, VideoRoomFactory

pytestmark = pytest.mark.django_db


def refused(**kwargs) -> bool:
    try:
        with transaction.atomic():
            BookingRulesFactory(**kwargs)
    except IntegrityError:
        return True
    return False


@pytest.mark.parametrize(
    "field,bad,good",
    [
        ("slot_minutes", 19, 20),
        ("slot_minutes", 31, 30),
        ("gap_minutes", 61, 60),
        ("max_days_ahead", 0, 1),
        ("max_days_ahead", 91, 90),
        ("weekly_quota", 0, 1),
        ("call_tolerance_minutes", 16, 15),
        ("min_notice_minutes", 7 * 24 * 60 + 1, 7 * 24 * 60),
        ("cancel_notice_minutes", 7 * 24 * 60 + 1, 7 * 24 * 60),
        ("who_may_book", "guard", "kiosk"),
    ],
)
def test_it_keeps_each_rule_within_its_range(field, bad, good):
    assert refused(**{field: bad})
    assert not refused(**{field: good})


def test_it_keeps_the_monthly_quota_at_least_the_weekly_one():
    assert refused(weekly_quota=4, monthly_quota=3)
    assert not refused(weekly_quota=4, monthly_quota=4)


def test_it_allows_one_row_per_establishment_quarter_and_room():
    establishment = EstablishmentFactory()
    quarter = QuarterFactory(establishment=establishment)
    room = VideoRoomFactory(quarter=quarter)
    BookingRulesFactory(establishment=establishment)
    BookingRulesFactory(establishment=establishment, quarter=quarter)
    BookingRulesFactory(establishment=establishment, room=room)
    assert refused(establishment=establishment)
    assert refused(establishment=establishment, quarter=quarter)
    assert refused(establishment=establishment, room=room)
    assert refused(establishment=establishment, quarter=quarter, room=VideoRoomFactory())


def test_it_resolves_room_then_quarter_then_establishment():
    establishment = EstablishmentFactory()
    quarter = QuarterFactory(establishment=establishment)
    plain_quarter = QuarterFactory(establishment=establishment)
    room, sibling = VideoRoomFactory(quarter=quarter), VideoRoomFactory(quarter=quarter)
    lone = VideoRoomFactory(quarter=plain_quarter)
    base = BookingRulesFactory(establishment=establishment, slot_minutes=30)
    by_quarter = BookingRulesFactory(establishment=establishment, quarter=quarter, slot_minutes=25)
    by_room = BookingRulesFactory(establishment=establishment, room=room, slot_minutes=20)
    book = RulesBook(establishment)
    assert book.for_room(room) == by_room
    assert book.for_room(sibling) == by_quarter
    assert book.for_room(lone) == base
    assert book.for_quarter(quarter.pk) == by_quarter


def test_it_takes_opening_hours_from_the_room_else_the_nearest_rules_that_have_some():
    establishment = EstablishmentFactory()
    quarter = QuarterFactory(establishment=establishment)
    own, by_quarter, plain = (VideoRoomFactory(quarter=quarter) for _ in range(3))
    base = BookingRulesFactory(establishment=establishment)
    quarter_rules = BookingRulesFactory(establishment=establishment, quarter=quarter)
    BookingRulesFactory(establishment=establishment, room=plain)  # rules without hours
    OpeningHoursFactory(rules=base, weekday=0, opens_at=time(8), closes_at=time(9))
    OpeningHoursFactory(rules=quarter_rules, weekday=0, opens_at=time(14), closes_at=time(15))
    OpeningHoursFactory(
        rules=None,
        room=own,
        establishment=establishment,
        weekday=0,
        opens_at=time(17),
        closes_at=time(18),
    )
    book = RulesBook(establishment)
    assert book.hours_for(own)[0] == [(time(17), time(18))]
    assert book.hours_for(by_quarter)[0] == [(time(14), time(15))]
    assert book.hours_for(plain)[0] == [(time(14), time(15))]


def test_it_refuses_hours_that_close_before_they_open_or_belong_to_nobody():
    rules = BookingRulesFactory()
    for kwargs in (
        dict(rules=rules, opens_at=time(12), closes_at=time(9)),
        dict(rules=None, room=None, establishment=rules.establishment),
        dict(rules=rules, weekday=7),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            OpeningHoursFactory(**kwargs)


def test_it_has_defaults_when_an_establishment_has_no_rules_yet():
    establishment = EstablishmentFactory()
    room = VideoRoomFactory(quarter__establishment=establishment)
    rules = RulesBook(establishment).for_room(room)
    assert rules.pk is None and rules.slot_minutes == 30
    assert RulesBook(establishment).hours_for(room) == {}
    assert BookingRules.WhoMayBook.BOTH == rules.who_may_book
