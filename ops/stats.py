"""The console's statistics: DailyStats rows added up per day, week or month, for the
establishments a staff member may read (parloir.access), nationally or one by one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import DateField, Max, Sum
from django.db.models.functions import Trunc

from establishments.models import VideoRoom
from ops.models import HOURS, DailyStats, hour_field

STEPS = ("day", "week", "month")
# The span a page shows when none is asked for, per step.
DEFAULT_DAYS = {"day": 30, "week": 12 * 7, "month": 365}
LONGEST = timedelta(days=3 * 366)

FIGURES = [
    "booked",
    "held",
    "refused",
    "failed",
    "no_show",
    "no_answer",
    "interrupted",
    "cancelled",
    "held_seconds",
    "lost_seconds",
    "given_back_seconds",
    "sms_total",
    "sms_delivered",
    "sms_failed",
    "voice_total",
    "voice_delivered",
    "voice_failed",
]


@dataclass
class Query:
    # None: every establishment (a national role's scope).
    establishment_ids: set[int] | None
    step: str
    first: date
    last: date

    def rows(self):
        rows = DailyStats.objects.filter(day__gte=self.first, day__lte=self.last)
        if self.establishment_ids is not None:
            rows = rows.filter(establishment_id__in=self.establishment_ids)
        return rows


@dataclass
class Period:
    start: date
    figures: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, name: str):
        figures = self.__dict__.get("figures", {})
        if name in figures:
            return figures[name]
        raise AttributeError(name)

    @property
    def held_minutes(self) -> int:
        return round(self.figures.get("held_seconds", 0) / 60)

    @property
    def lost_minutes(self) -> int:
        return round(self.figures.get("lost_seconds", 0) / 60)

    @property
    def given_back_minutes(self) -> int:
        return round(self.figures.get("given_back_seconds", 0) / 60)

    def rate(self, channel: str) -> float | None:
        total = self.figures.get(f"{channel}_total", 0)
        if not total:
            return None
        return 100 * self.figures.get(f"{channel}_delivered", 0) / total

    @property
    def sms_rate(self) -> float | None:
        return self.rate("sms")

    @property
    def voice_rate(self) -> float | None:
        return self.rate("voice")


def bucket_start(day: date, step: str) -> date:
    if step == "week":
        return day - timedelta(days=day.weekday())
    if step == "month":
        return day.replace(day=1)
    return day


def buckets(first: date, last: date, step: str) -> list[date]:
    found, at = [], bucket_start(first, step)
    while at <= last:
        found.append(at)
        if step == "day":
            at += timedelta(days=1)
        elif step == "week":
            at += timedelta(days=7)
        else:
            at = (at.replace(day=28) + timedelta(days=4)).replace(day=1)
    return found


def _sums() -> dict:
    return {name: Sum(name) for name in FIGURES}


def periods(query: Query) -> list[Period]:
    """One Period per day, week or month of the span, empty ones included."""
    found = {
        row.pop("bucket"): row
        for row in query.rows()
        .annotate(bucket=Trunc("day", query.step, output_field=DateField()))
        .values("bucket")
        .annotate(**_sums())
        .order_by()
    }
    return [
        Period(start, {name: (found.get(start) or {}).get(name) or 0 for name in FIGURES})
        for start in buckets(query.first, query.last, query.step)
    ]


def total(query: Query) -> Period:
    row = query.rows().aggregate(**_sums())
    return Period(query.first, {name: row[name] or 0 for name in FIGURES})


def by_establishment(query: Query) -> list[tuple[int, Period]]:
    rows = query.rows().values("establishment_id").annotate(**_sums()).order_by()
    return sorted(
        (
            (row["establishment_id"], Period(query.first, {n: row[n] or 0 for n in FIGURES}))
            for row in rows
        ),
        key=lambda pair: -pair[1].figures["booked"],
    )


def occupancy(query: Query) -> list[float]:
    """Per local hour, the share of the rooms' time spent in calls (0 to 100)."""
    row = query.rows().aggregate(**{hour_field(h): Sum(hour_field(h)) for h in HOURS})
    rooms = VideoRoom.objects.filter(in_service=True)
    if query.establishment_ids is not None:
        rooms = rooms.filter(quarter__establishment_id__in=query.establishment_ids)
    capacity = rooms.count() * ((query.last - query.first).days + 1) * 3600
    if not capacity:
        return [0.0 for _ in HOURS]
    return [min(100.0, 100 * (row[hour_field(h)] or 0) / capacity) for h in HOURS]


def computed_at(query: Query):
    return query.rows().aggregate(at=Max("computed_at"))["at"]
