"""Factories and builders for booking tests. Valid by default, on top of tests/factories.py.

``open_room`` gives a room with rules and opening hours every day, a detainee of its
quarter with an active phone account and an approved contact: ready to book.
"""

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import factory

from bookings.models import Booking, BookingRules, Closure, OpeningHours
from establishments.models import Establishment, Quarter, VideoRoom
from people.models import AuthorizedContact, Detainee
from tests.factories import (
    ContactFactory,
    DetaineeFactory,
    EstablishmentFactory,
    PhoneAccountFactory,
    QuarterFactory,
    VideoRoomFactory,
)

PARIS = ZoneInfo("Europe/Paris")


def local(day: date, hh: int, mm: int = 0, zone: ZoneInfo = PARIS, fold: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=zone).replace(fold=fold)


class BookingRulesFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BookingRules

    establishment = factory.SubFactory(EstablishmentFactory)
    slot_minutes = 30
    gap_minutes = 0
    max_days_ahead = 30
    min_notice_minutes = 60
    weekly_quota = 3
    monthly_quota = 10
    who_may_book = BookingRules.WhoMayBook.BOTH
    cancel_notice_minutes = 120
    call_tolerance_minutes = 5


class OpeningHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OpeningHours

    rules = factory.SubFactory(BookingRulesFactory)
    establishment = factory.LazyAttribute(
        lambda o: o.rules.establishment if o.rules else o.room.quarter.establishment
    )
    weekday = 0
    opens_at = time(9)
    closes_at = time(12)


class ClosureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Closure

    establishment = factory.SubFactory(EstablishmentFactory)
    kind = Closure.Kind.EXCEPTIONAL
    reason = "Exercice incendie"


def every_day(rules: BookingRules, opens: time = time(9), closes: time = time(12)) -> None:
    for weekday in range(7):
        OpeningHoursFactory(
            rules=rules,
            establishment=rules.establishment,
            weekday=weekday,
            opens_at=opens,
            closes_at=closes,
        )


def ready_detainee(quarter: Quarter, **kwargs) -> tuple[Detainee, AuthorizedContact]:
    detainee = DetaineeFactory(quarter=quarter, **kwargs)
    PhoneAccountFactory(detainee=detainee)
    return detainee, ContactFactory(detainee=detainee)


@dataclass
class Site:
    establishment: Establishment
    quarter: Quarter
    room: VideoRoom
    rules: BookingRules
    detainee: Detainee
    contact: AuthorizedContact


def open_room(
    *,
    establishment: Establishment | None = None,
    opens: time = time(9),
    closes: time = time(12),
    **rules_kwargs,
) -> Site:
    establishment = establishment or EstablishmentFactory()
    quarter = QuarterFactory(establishment=establishment)
    room = VideoRoomFactory(quarter=quarter)
    rules = BookingRulesFactory(establishment=establishment, **rules_kwargs)
    every_day(rules, opens, closes)
    detainee, contact = ready_detainee(quarter)
    return Site(establishment, quarter, room, rules, detainee, contact)


def booking_row(site: Site, starts_at: datetime, minutes: int = 30, **kwargs) -> Booking:
    """A booking written straight to the table, as the database's own tests need."""
    from datetime import timedelta

    return Booking.objects.create(
        room=kwargs.pop("room", site.room),
        detainee=kwargs.pop("detainee", site.detainee),
        contact=kwargs.pop("contact", site.contact),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        booked_via="kiosk",
        **kwargs,
    )


def book(site: Site, day: date, hh: int, mm: int = 0, **kwargs) -> Booking:
    """Book through the real action, at the kiosk unless told otherwise."""
    from bookings.actions import do_book

    return do_book(
        kwargs.pop("detainee", site.detainee),
        room=kwargs.pop("room", site.room),
        contact=kwargs.pop("contact", site.contact),
        starts_at=local(day, hh, mm),
        booked_via=kwargs.pop("booked_via", "kiosk"),
        **kwargs,
    )
