"""The statistics worker: each establishment's days added up into DailyStats.

A pass recounts, for every establishment, the days from the last one it holds (or from
the first booking, the first time) to today, in the establishment's time zone. A recount
is an upsert computed from the rows themselves, so two workers recounting the same day
write the same figures: there is nothing to claim. Recent days are recounted at every
pass (a call ends, a code is delivered, a booking is marked absent after the fact);
``PARLOIR_STATS_RECOUNT_DAYS`` says how far back.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from bookings.models import Booking
from establishments.models import Establishment
from notify.models import Message
from ops import metrics as ops_metrics
from ops.models import HOURS, DailyStats, hour_field

log = logging.getLogger(__name__)

COUNTED = [
    "booked",
    "cancelled",
    "held",
    "refused",
    "failed",
    "no_show",
    "no_answer",
    "interrupted",
    "held_seconds",
    "lost_seconds",
    "given_back_seconds",
    "sms_total",
    "sms_delivered",
    "sms_failed",
    "voice_total",
    "voice_delivered",
    "voice_failed",
    *[hour_field(h) for h in HOURS],
]


def _bounds(tz: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def _busy_by_hour(started: datetime, ended: datetime, tz: ZoneInfo) -> dict[int, int]:
    """Seconds of [started, ended) in each local hour of the day."""
    busy: dict[int, int] = {}
    at = started.astimezone(tz)
    ended = ended.astimezone(tz)
    while at < ended:
        next_hour = (at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).astimezone(
            tz
        )
        step = min(next_hour, ended)
        busy[at.hour] = busy.get(at.hour, 0) + int((step - at).total_seconds())
        at = step
    return busy


def count(establishment: Establishment, first: date, last: date, now=None) -> int:
    """Recount ``establishment``'s days from ``first`` to ``last`` (local dates)."""
    now = now or timezone.now()
    tz = ZoneInfo(establishment.time_zone)
    start, end = _bounds(tz, first, last)
    days = {
        first + timedelta(days=n): dict.fromkeys(COUNTED, 0) for n in range((last - first).days + 1)
    }
    bookings = Booking.objects.filter(
        room__quarter__establishment=establishment, starts_at__gte=start, starts_at__lt=end
    )
    for row in (
        bookings.annotate(d=TruncDate("starts_at", tzinfo=tz))
        .values("d")
        .annotate(
            booked=Count("id", filter=~Q(status=Booking.Status.CANCELLED)),
            cancelled=Count("id", filter=Q(status=Booking.Status.CANCELLED)),
            no_show=Count("id", filter=Q(status=Booking.Status.NO_SHOW)),
            held=Count("call", filter=Q(call__started_at__isnull=False)),
            refused=Count("call", filter=Q(call__state="refused")),
            failed=Count("call", filter=Q(call__state="media_failed")),
            no_answer=Count("call", filter=Q(call__state="no_answer")),
            interrupted=Count("call", filter=Q(call__state="interrupted")),
            lost_seconds=Sum("call__lost_seconds"),
            given_back_seconds=Sum("call__given_back_seconds"),
        )
    ):
        figures = days[row.pop("d")]
        figures.update({key: value or 0 for key, value in row.items()})
    for starts_at, started, ended in bookings.filter(call__started_at__isnull=False).values_list(
        "starts_at", "call__started_at", "call__ended_at"
    ):
        figures = days[starts_at.astimezone(tz).date()]
        ended = ended or now
        figures["held_seconds"] += max(0, int((ended - started).total_seconds()))
        for hour, seconds in _busy_by_hour(started, ended, tz).items():
            figures[hour_field(hour)] += seconds
    for d, channel, status, n in (
        Message.objects.filter(
            establishment=establishment, created_at__gte=start, created_at__lt=end
        )
        .annotate(d=TruncDate("created_at", tzinfo=tz))
        .values_list("d", "channel", "status")
        .annotate(n=Count("id"))
        .values_list("d", "channel", "status", "n")
    ):
        figures = days[d]
        figures[f"{channel}_total"] += n
        if status in ("delivered", "failed"):
            figures[f"{channel}_{status}"] += n
    rows = [
        DailyStats(establishment=establishment, day=d, computed_at=now, **figures)
        for d, figures in days.items()
    ]
    with transaction.atomic():
        DailyStats.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["establishment", "day"],
            update_fields=[*COUNTED, "computed_at"],
        )
    return len(rows)


def _first_day(establishment: Establishment, tz: ZoneInfo, today: date) -> date:
    latest = (
        DailyStats.objects.filter(establishment=establishment)
        .order_by("-day")
        .values_list("day", flat=True)
        .first()
    )
    recount_from = today - timedelta(days=settings.STATS_RECOUNT_DAYS)
    if latest is not None:
        return min(latest, recount_from)
    first_booking = Booking.objects.filter(room__quarter__establishment=establishment).aggregate(
        m=Min("starts_at")
    )["m"]
    if first_booking is None:
        return recount_from
    return min(first_booking.astimezone(tz).date(), recount_from)


def national(first: date, last: date, now=None) -> int:
    """Recount the country's days from ``first`` to ``last`` out of the establishments'."""
    now = now or timezone.now()
    sums = {name: Sum(name) for name in COUNTED}
    rows = [
        DailyStats(
            establishment=None,
            day=row.pop("day"),
            computed_at=row.pop("at"),
            **{name: value or 0 for name, value in row.items()},
        )
        for row in DailyStats.objects.filter(
            establishment__isnull=False, day__gte=first, day__lte=last
        )
        .values("day")
        .annotate(**sums, at=Max("computed_at"))
        .order_by()
    ]
    try:
        with transaction.atomic():
            DailyStats.objects.filter(
                establishment__isnull=True, day__gte=first, day__lte=last
            ).delete()
            DailyStats.objects.bulk_create(rows, batch_size=500)
    except IntegrityError:
        # Another worker recounted the same days at the same moment: its rows stand.
        log.info("Statistics: national days %s to %s recounted by another worker", first, last)
    return len(rows)


def tick(now=None) -> int:
    """One pass over every establishment, then the country; returns the days counted."""
    now = now or timezone.now()
    counted = 0
    span: tuple[date, date] | None = None
    for establishment in Establishment.objects.all():
        tz = ZoneInfo(establishment.time_zone)
        today = now.astimezone(tz).date()
        first = _first_day(establishment, tz, today)
        counted += count(establishment, first, today, now=now)
        span = (min(first, span[0]), max(today, span[1])) if span else (first, today)
    if span is not None:
        national(*span, now=now)
    return counted


def _guarded_tick() -> None:
    close_old_connections()
    try:
        tick()
        ops_metrics.worker_pass("stats")
    except Exception:
        # One bad pass (a database blip) must not stop the statistics for good.
        log.exception("Statistics pass failed")
        ops_metrics.worker_pass("stats", ok=False)
    finally:
        close_old_connections()


def run(*, once: bool = False) -> None:
    import time as clock

    while True:
        _guarded_tick()
        if once:
            return
        clock.sleep(settings.STATS_INTERVAL_SECONDS)


async def run_async() -> None:
    """The same loop inside the web process (parloir/background.py), in a thread of its
    own: a first pass over a year of bookings takes a while."""
    from asgiref.sync import sync_to_async

    while True:
        await sync_to_async(_guarded_tick, thread_sensitive=False)()
        await asyncio.sleep(settings.STATS_INTERVAL_SECONDS)
