"""The console's statistics: DailyStats rows added up per day, week or month, for the
establishments a staff member may read (parloir.access), nationally or one by one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Max, Sum

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
        """The country's rows for a national scope, else the establishments' own."""
        rows = DailyStats.objects.filter(day__gte=self.first, day__lte=self.last)
        if self.establishment_ids is None:
            return rows.filter(establishment__isnull=True)
        return rows.filter(establishment_id__in=self.establishment_ids)

    def establishment_rows(self):
        rows = DailyStats.objects.filter(
            day__gte=self.first, day__lte=self.last, establishment__isnull=False
        )
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


class Report:
    """Everything a page shows but the per-establishment table, from one query that adds
    the rows up per day (on the day index); the days are then put in their periods here:
    a year is 365 small rows, where truncating 73,000 dates in the database was the
    page's main cost."""

    def __init__(self, query: Query) -> None:
        self.query = query
        busy = {hour_field(h): Sum(hour_field(h)) for h in HOURS}
        days = list(
            query.rows().values("day").annotate(**_sums(), **busy, at=Max("computed_at")).order_by()
        )
        starts = buckets(query.first, query.last, query.step)
        self.periods = [Period(start, dict.fromkeys(FIGURES, 0)) for start in starts]
        index = {start: period for start, period in zip(starts, self.periods, strict=True)}
        self.total = Period(query.first, dict.fromkeys(FIGURES, 0))
        self.busy = [0] * len(HOURS)
        self.computed_at = None
        for day in days:
            period = index[bucket_start(day["day"], query.step)]
            for name in FIGURES:
                value = day[name] or 0
                period.figures[name] += value
                self.total.figures[name] += value
            for hour in HOURS:
                self.busy[hour] += day[hour_field(hour)] or 0
            if self.computed_at is None or day["at"] > self.computed_at:
                self.computed_at = day["at"]

    def occupancy(self) -> list[float]:
        """Per local hour, the share of the rooms' time spent in calls (0 to 100)."""
        query = self.query
        rooms = VideoRoom.objects.filter(in_service=True)
        if query.establishment_ids is not None:
            rooms = rooms.filter(quarter__establishment_id__in=query.establishment_ids)
        capacity = rooms.count() * ((query.last - query.first).days + 1) * 3600
        if not capacity:
            return [0.0 for _ in HOURS]
        return [min(100.0, 100 * seconds / capacity) for seconds in self.busy]


def periods(query: Query) -> list[Period]:
    return Report(query).periods


def by_establishment(query: Query) -> list[tuple[int, Period]]:
    rows = query.establishment_rows().values("establishment_id").annotate(**_sums()).order_by()
    return sorted(
        (
            (row["establishment_id"], Period(query.first, {n: row[n] or 0 for n in FIGURES}))
            for row in rows
        ),
        key=lambda pair: -pair[1].figures["booked"],
    )


def computed_at(query: Query):
    return query.rows().aggregate(at=Max("computed_at"))["at"]
