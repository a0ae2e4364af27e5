"""The statistics worker counts a day of real bookings, calls and code messages."""

from datetime import date, timedelta

import pytest

from bookings.actions import do_mark_no_show
from bookings.models import Booking
from bookings.tests.factories import booking_row, local, open_room
from calls import actions
from calls.models import Call
from establishments.actions import do_register_kiosk
from ops import rollup
from ops.models import DailyStats
from tests.factories import staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

DAY = date(2026, 3, 10)


def _start(booking, device):
    return actions.do_start_call(booking, device_label=device.label)


def _go_live(call):
    for kind in ("terms", "privacy", "monitoring"):
        actions.do_record_consent(
            call, kind, accepted=True, client_ip="10.0.0.1", user_agent="UA", language="fr"
        )
    actions.do_relative_waiting(call)
    for role in ("kiosk", "relative"):
        actions.do_join(call, role)
        actions.do_mark_media_up(call, role)
    return Call.objects.get(pk=call.pk)


def test_a_day_of_calls_is_counted_in_the_establishments_time_zone(time_machine):
    site = open_room(opens=local(DAY, 9).time(), closes=local(DAY, 12).time())
    director = staff_with_role("director", site.establishment)
    device, _credential = do_register_kiosk(site.room, "Borne 1", actor=director)
    slots = {
        (9, 0): booking_row(site, local(DAY, 9), minutes=80),
        (10, 30): booking_row(site, local(DAY, 10, 30)),
        (11, 0): booking_row(site, local(DAY, 11)),
        (11, 30): booking_row(site, local(DAY, 11, 30)),
        (8, 0): booking_row(site, local(DAY, 8), status=Booking.Status.CANCELLED),
    }

    # 9:00, held for ten minutes, from 9:55 to 10:05 across two hours of the day.
    time_machine.move_to(local(DAY, 9, 55), tick=False)
    held = _go_live(_start(slots[(9, 0)], device))
    time_machine.move_to(local(DAY, 10, 5), tick=False)
    actions.do_end_call(held, Call.EndReason.HUNG_UP_RELATIVE, by="relative")
    # 10:30, the relative never connects; 11:00, the media fail before the conversation.
    time_machine.move_to(local(DAY, 10, 31), tick=False)
    actions.do_end_call(_start(slots[(10, 30)], device), Call.EndReason.NO_ANSWER, by="worker")
    time_machine.move_to(local(DAY, 11, 1), tick=False)
    actions.do_end_call(_start(slots[(11, 0)], device), Call.EndReason.MEDIA_FAILURE, by="media")
    # 11:30: the detainee did not come.
    time_machine.move_to(local(DAY, 11, 45), tick=False)
    do_mark_no_show(slots[(11, 30)], actor=director)

    time_machine.move_to(local(DAY, 23, 30), tick=False)
    rollup.tick()
    row = DailyStats.objects.get(establishment=site.establishment, day=DAY)
    country = DailyStats.objects.get(establishment=None, day=DAY)
    assert (country.booked, country.held, country.held_seconds, country.busy_09) == (
        4, 1, 600, 300,
    )  # fmt: skip
    assert (row.booked, row.cancelled, row.held, row.no_show, row.no_answer, row.failed) == (
        4, 1, 1, 1, 1, 1,
    )  # fmt: skip
    assert row.held_seconds == 600
    assert (row.busy_09, row.busy_10, row.busy_11) == (300, 300, 0)
    assert (row.sms_total, row.sms_delivered, row.sms_failed) == (3, 3, 0)
    # Nothing the day before, nor after: the rows exist, at zero.
    assert (
        DailyStats.objects.get(establishment=site.establishment, day=DAY - timedelta(days=1)).booked
        == 0
    )

    # A later pass recounts recent days: a booking marked absent after the fact counts.
    Booking.objects.filter(pk=slots[(10, 30)].pk).update(status=Booking.Status.NO_SHOW)
    time_machine.move_to(local(DAY + timedelta(days=1), 8), tick=False)
    rollup.tick()
    row.refresh_from_db()
    assert row.no_show == 2


def test_the_worker_command_counts_every_day_since_the_first_booking(time_machine):
    from django.core.management import call_command

    site = open_room()
    booking_row(site, local(DAY, 9))
    time_machine.move_to(local(DAY + timedelta(days=10), 12), tick=False)
    call_command("stats_worker", "--once")
    days = DailyStats.objects.filter(establishment=site.establishment).order_by("day")
    assert days.first().day == DAY and days.last().day == DAY + timedelta(days=10)
    assert days.get(day=DAY).booked == 1
    assert DailyStats.objects.get(establishment=None, day=DAY).booked == 1
