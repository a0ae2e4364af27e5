"""The availability engine: which slots one detainee may book, and when a call may run.

Everything is loaded up front in a fixed handful of queries (rules, hours, rooms,
closures, bookings, suspensions, the phone account), then slots are generated and
filtered in memory, whatever the number of rooms and days.

Slots come from local wall-clock times (zoneinfo), stepping by slot length + gap:
- a wall-clock start that does not exist (the spring Sunday's 02:00–03:00) is skipped;
- an ambiguous one (the autumn Sunday's 02:00–03:00) is taken once, at its first
  occurrence, so no two slots ever read the same time to a relative;
- lengths and gaps are real elapsed time, and a slot never starts before the
  previous one ended plus the gap, so slots never overlap across a change.
"""

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from bookings.models import Booking, BookingRules, Closure, OpeningHours
from establishments.models import Establishment, VideoRoom
from people.models import Detainee, PhoneAccount, Suspension


@dataclass(frozen=True)
class Slot:
    room: VideoRoom
    starts_at: datetime
    ends_at: datetime

    @property
    def room_id(self) -> int:
        return self.room.pk

    def local_start(self, zone: ZoneInfo) -> datetime:
        return self.starts_at.astimezone(zone)


class Refusal:
    """Why a slot cannot be booked; bookings.actions turns these into messages."""

    NOT_PRESENT = "not_present"
    NO_ACCOUNT = "no_account"
    WRONG_QUARTER = "wrong_quarter"
    ROOM_OUT_OF_SERVICE = "room_out_of_service"
    WRONG_ROOM_KIND = "wrong_room_kind"
    NOT_ALLOWED_VIA = "not_allowed_via"
    NOT_A_SLOT = "not_a_slot"
    TOO_LATE = "too_late"
    TOO_FAR = "too_far"
    CLOSED = "closed"
    SUSPENDED = "suspended"
    ROOM_TAKEN = "room_taken"
    DETAINEE_BUSY = "detainee_busy"
    WEEKLY_QUOTA = "weekly_quota"
    MONTHLY_QUOTA = "monthly_quota"


def to_utc(naive: datetime, zone: ZoneInfo) -> tuple[datetime, bool]:
    """The first instant the wall clock shows ``naive``, and whether it shows it at all."""
    instant = naive.replace(tzinfo=zone).astimezone(UTC)
    exists = instant.astimezone(zone).replace(tzinfo=None) == naive
    return instant, exists


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day as UTC instants (23 or 25 hours on DST Sundays)."""
    start, _ = to_utc(datetime.combine(day, time.min), zone)
    end, _ = to_utc(datetime.combine(day + timedelta(days=1), time.min), zone)
    return start, end


def _closing_instant(naive: datetime, zone: ZoneInfo) -> datetime:
    instant, exists = to_utc(naive, zone)
    if exists:
        return instant
    # A closing time inside the spring gap: take the earlier reading, so no slot
    # ever runs past the time the guard was told the room closes.
    return naive.replace(tzinfo=zone, fold=1).astimezone(UTC)


class IntervalSet:
    """Half-open intervals answering "does [start, end) meet any of them?" in O(log n)."""

    def __init__(self, intervals):
        ordered = sorted(intervals)
        self.starts = [s for s, _e in ordered]
        self.max_end: list[datetime] = []
        running = None
        for _s, e in ordered:
            running = e if running is None or e > running else running
            self.max_end.append(running)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        # Intervals starting before ``end`` are a prefix; one of them overlaps iff the
        # latest end among them is after ``start``.
        i = bisect.bisect_left(self.starts, end)
        return i > 0 and self.max_end[i - 1] > start


class RulesBook:
    """All booking rules and opening hours of one establishment, resolved in memory."""

    def __init__(self, establishment: Establishment):
        self.establishment = establishment
        self.by_room: dict[int, BookingRules] = {}
        self.by_quarter: dict[int, BookingRules] = {}
        self.default = BookingRules(establishment=establishment)
        for rules in BookingRules.objects.filter(establishment=establishment):
            if rules.room_id:
                self.by_room[rules.room_id] = rules
            elif rules.quarter_id:
                self.by_quarter[rules.quarter_id] = rules
            else:
                self.default = rules
        self.room_hours: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
        self.rules_hours: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
        for h in OpeningHours.objects.filter(establishment=establishment).order_by("opens_at"):
            target = self.room_hours[h.room_id] if h.room_id else self.rules_hours[h.rules_id]
            target[h.weekday].append((h.opens_at, h.closes_at))

    def for_quarter(self, quarter_id: int) -> BookingRules:
        return self.by_quarter.get(quarter_id, self.default)

    def for_room(self, room: VideoRoom) -> BookingRules:
        return self.by_room.get(room.pk) or self.for_quarter(room.quarter_id)

    def hours_for(self, room: VideoRoom) -> dict[int, list]:
        """The room's own hours if it has any, else those of the nearest rules that have some."""
        if room.pk in self.room_hours:
            return self.room_hours[room.pk]
        for rules in (
            self.by_room.get(room.pk),
            self.by_quarter.get(room.quarter_id),
            self.default,
        ):
            if rules is not None and rules.pk in self.rules_hours:
                return self.rules_hours[rules.pk]
        return {}


def room_slots(
    rules: BookingRules, hours: dict[int, list], zone: ZoneInfo, day: date
) -> list[tuple[datetime, datetime]]:
    """The slots of one room on one local day, as UTC (start, end) pairs."""
    length = timedelta(minutes=rules.slot_minutes)
    gap = timedelta(minutes=rules.gap_minutes)
    step = length + gap
    slots: list[tuple[datetime, datetime]] = []
    previous_end: datetime | None = None
    for opens, closes in sorted(hours.get(day.weekday(), ())):
        wall = datetime.combine(day, opens)
        closing_wall = datetime.combine(day, closes)
        closing = _closing_instant(closing_wall, zone)
        while wall < closing_wall:
            start, exists = to_utc(wall, zone)
            wall += step
            if not exists:
                continue
            end = start + length
            if end > closing:
                break
            if previous_end is not None and start < previous_end + gap:
                continue
            slots.append((start, end))
            previous_end = end
    return slots


def _week_key(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def _month_key(day: date) -> tuple[int, int]:
    return day.year, day.month


class Availability:
    """What one detainee may book between two local dates (inclusive).

    ``ignore`` leaves one booking out of every count: the booking being moved.
    """

    def __init__(
        self,
        detainee: Detainee,
        start_date: date,
        end_date: date,
        *,
        now: datetime | None = None,
        for_lawyer: bool = False,
        ignore: Booking | None = None,
        rooms: list[VideoRoom] | None = None,
        makeup: bool = False,
    ):
        self.detainee = detainee
        self.establishment = detainee.establishment
        self.zone = self.establishment.zone
        self.now = now or timezone.now()
        self.today = self.now.astimezone(self.zone).date()
        self.start_date = max(start_date, self.today)
        self.end_date = end_date
        self.for_lawyer = for_lawyer
        # A make-up call (bookings.makeup) counts against no quota.
        self.makeup = makeup
        self.rules = RulesBook(self.establishment)
        self._candidates: dict = {}
        self.quota_rules = self.rules.for_quarter(detainee.quarter_id)

        if rooms is None:
            rooms = list(
                VideoRoom.objects.filter(
                    quarter_id=detainee.quarter_id, in_service=True, for_lawyers=for_lawyer
                ).select_related("quarter")
            )
        self.rooms = rooms

        self.range_start, _ = local_day_bounds(self.start_date, self.zone)
        _, self.range_end = local_day_bounds(max(self.end_date, self.start_date), self.zone)

        self.has_account = PhoneAccount.objects.filter(detainee=detainee, active=True).exists()

        closures = Closure.objects.filter(
            establishment=self.establishment,
            starts_at__lt=self.range_end,
            ends_at__gt=self.range_start,
        ).values_list("room_id", "quarter_id", "starts_at", "ends_at")
        by_room: dict[int, list] = defaultdict(list)
        by_quarter: dict[int, list] = defaultdict(list)
        everywhere: list = []
        for room_id, quarter_id, s, e in closures:
            (
                by_room[room_id]
                if room_id
                else by_quarter[quarter_id]
                if quarter_id
                else everywhere
            ).append((s, e))
        self.closed = {
            room.pk: IntervalSet(by_room[room.pk] + by_quarter[room.quarter_id] + everywhere)
            for room in self.rooms
        }

        active = Booking.objects.exclude(status=Booking.Status.CANCELLED)
        if ignore is not None:
            active = active.exclude(pk=ignore.pk)
        taken: dict[int, list] = defaultdict(list)
        for room_id, s, e in active.filter(
            room__in=[r.pk for r in self.rooms],
            starts_at__lt=self.range_end,
            ends_at__gt=self.range_start,
        ).values_list("room_id", "starts_at", "ends_at"):
            taken[room_id].append((s, e))
        self.taken = {room.pk: IntervalSet(taken[room.pk]) for room in self.rooms}

        # The detainee's own bookings, over whole weeks and months around the range,
        # serve both the quotas and "not in two rooms at once".
        quota_from = min(
            self.start_date.replace(day=1),
            self.start_date - timedelta(days=self.start_date.weekday()),
        )
        last = max(self.end_date, self.start_date)
        next_month = (last.replace(day=28) + timedelta(days=4)).replace(day=1)
        quota_to = max(next_month, last + timedelta(days=7 - last.weekday()))
        quota_start, _ = local_day_bounds(quota_from, self.zone)
        quota_end, _ = local_day_bounds(quota_to, self.zone)
        own = list(
            active.filter(
                detainee=detainee, starts_at__lt=quota_end, ends_at__gt=quota_start
            ).values_list("starts_at", "ends_at", "makeup_for")
        )
        self.busy = IntervalSet([(s, e) for s, e, _makeup in own])
        self.per_week: Counter = Counter()
        self.per_month: Counter = Counter()
        for s, _e, makeup_for in own:
            if makeup_for is not None:
                continue  # make-up calls are not counted
            day = s.astimezone(self.zone).date()
            self.per_week[_week_key(day)] += 1
            self.per_month[_month_key(day)] += 1

        self.suspended = IntervalSet(
            Suspension.objects.filter(
                detainee=detainee,
                lifted_at__isnull=True,
                starts_at__lt=self.range_end,
                ends_at__gt=self.range_start,
            ).values_list("starts_at", "ends_at")
        )

    def detainee_refusal(self) -> str | None:
        if self.detainee.status != Detainee.Status.PRESENT:
            return Refusal.NOT_PRESENT
        if not self.has_account:
            return Refusal.NO_ACCOUNT
        return None

    def room_refusal(self, room: VideoRoom, via: str | None = None) -> str | None:
        if room.quarter_id != self.detainee.quarter_id:
            return Refusal.WRONG_QUARTER
        if not room.in_service:
            return Refusal.ROOM_OUT_OF_SERVICE
        if room.for_lawyers != self.for_lawyer:
            return Refusal.WRONG_ROOM_KIND
        if via is not None and not self.rules.for_room(room).allows(via):
            return Refusal.NOT_ALLOWED_VIA
        return None

    def days(self):
        day = self.start_date
        while day <= self.end_date:
            yield day
            day += timedelta(days=1)

    def candidates(self, room: VideoRoom, day: date) -> list[tuple[datetime, datetime]]:
        rules, hours = self.rules.for_room(room), self.rules.hours_for(room)
        # Rooms under the same rules and hours share their slots: generate them once.
        key = (id(rules), id(hours), day)
        slots = self._candidates.get(key)
        if slots is None:
            slots = self._candidates[key] = room_slots(rules, hours, self.zone, day)
        return slots

    def quota_refusal(self, day: date) -> str | None:
        if self.makeup:
            return None
        if self.per_week[_week_key(day)] >= self.quota_rules.weekly_quota:
            return Refusal.WEEKLY_QUOTA
        if self.per_month[_month_key(day)] >= self.quota_rules.monthly_quota:
            return Refusal.MONTHLY_QUOTA
        return None

    def slot_refusal(
        self, room: VideoRoom, day: date, start: datetime, end: datetime
    ) -> str | None:
        """Why this generated slot may not be booked, or None (free_slots is its fast twin)."""
        rules = self.rules.for_room(room)
        if start < self.now + timedelta(minutes=rules.min_notice_minutes):
            return Refusal.TOO_LATE
        if day > self.today + timedelta(days=rules.max_days_ahead):
            return Refusal.TOO_FAR
        if self.closed[room.pk].overlaps(start, end):
            return Refusal.CLOSED
        if self.suspended.overlaps(start, end):
            return Refusal.SUSPENDED
        if self.taken[room.pk].overlaps(start, end):
            return Refusal.ROOM_TAKEN
        if self.busy.overlaps(start, end):
            return Refusal.DETAINEE_BUSY
        return self.quota_refusal(day)

    def refusal(self, room: VideoRoom, starts_at: datetime, via: str | None = None) -> str | None:
        """Why ``starts_at`` in ``room`` may not be booked, or None when it may."""
        refusal = self.detainee_refusal() or self.room_refusal(room, via)
        if refusal:
            return refusal
        day = starts_at.astimezone(self.zone).date()
        for start, end in self.candidates(room, day):
            if start == starts_at:
                return self.slot_refusal(room, day, start, end)
        return Refusal.NOT_A_SLOT

    def slot_end(self, room: VideoRoom, starts_at: datetime) -> datetime | None:
        day = starts_at.astimezone(self.zone).date()
        for start, end in self.candidates(room, day):
            if start == starts_at:
                return end
        return None

    def free_slots(self, via: str | None = None) -> list[Slot]:
        """Every slot for which slot_refusal() is None, with the per-room and per-day
        checks taken out of the inner loop (see bench/bench_availability.py)."""
        if self.detainee_refusal():
            return []
        free = []
        open_days = [day for day in self.days() if self.quota_refusal(day) is None]
        suspended, busy = self.suspended, self.busy
        for room in self.rooms:
            if self.room_refusal(room, via):
                continue
            rules = self.rules.for_room(room)
            earliest = self.now + timedelta(minutes=rules.min_notice_minutes)
            last_day = self.today + timedelta(days=rules.max_days_ahead)
            closed, taken = self.closed[room.pk], self.taken[room.pk]
            for day in open_days:
                if day > last_day:
                    break
                for start, end in self.candidates(room, day):
                    if (
                        start < earliest
                        or closed.overlaps(start, end)
                        or suspended.overlaps(start, end)
                        or taken.overlaps(start, end)
                        or busy.overlaps(start, end)
                    ):
                        continue
                    free.append(Slot(room, start, end))
        free.sort(key=lambda slot: (slot.starts_at, slot.room.name))
        return free


def free_slots(
    detainee: Detainee,
    start_date: date,
    end_date: date,
    *,
    via: str | None = None,
    for_lawyer: bool = False,
    now: datetime | None = None,
    makeup: bool = False,
) -> list[Slot]:
    """The slots ``detainee`` may book from ``start_date`` to ``end_date`` (local, inclusive).

    Rooms of his quarter in service, minus closures, taken slots, his own bookings and
    suspensions, within his weekly and monthly quotas (but for a ``makeup`` call).
    ``via`` ("kiosk" or "staff") also drops rooms whose rules do not let that side book.
    """
    return Availability(
        detainee, start_date, end_date, now=now, for_lawyer=for_lawyer, makeup=makeup
    ).free_slots(via)


def room_day(room: VideoRoom, day: date) -> list[tuple[datetime, datetime]]:
    """Every slot a room offers on a local day, booked or not (the staff calendar)."""
    rules = RulesBook(room.quarter.establishment)
    return room_slots(
        rules.for_room(room), rules.hours_for(room), room.quarter.establishment.zone, day
    )


# The call layer's side: when a booked call may start and when it must end.


def can_start_call(booking: Booking, at: datetime | None = None) -> bool:
    """A call may start from ``tolerance`` minutes before the slot until the slot's end."""
    at = at or timezone.now()
    if booking.status != Booking.Status.BOOKED:
        return False
    earliest = booking.starts_at - timedelta(minutes=booking.tolerance_minutes)
    return earliest <= at < booking.ends_at


def call_deadline(
    booking: Booking,
    establishment: Establishment | None = None,
    started_at: datetime | None = None,
) -> datetime:
    """When a call started at ``started_at`` (default: now) must end at the latest.

    The establishment's call length from its start, and never after the slot's end.
    """
    establishment = establishment or booking.room.quarter.establishment
    started_at = started_at or timezone.now()
    return min(started_at + timedelta(minutes=establishment.call_minutes), booking.ends_at)


def current_booking(
    room: VideoRoom, *, detainee: Detainee | None = None, at: datetime | None = None
) -> Booking | None:
    """The booking whose call may start in ``room`` at ``at`` (default: now), if any.

    Near a slot's boundary two may qualify (one ending, the next one's early start):
    the one under way wins.
    """
    at = at or timezone.now()
    horizon = timedelta(minutes=15)  # the largest tolerance the rules allow
    qs = Booking.objects.filter(
        Q(room=room)
        & Q(status=Booking.Status.BOOKED)
        & Q(starts_at__lte=at + horizon)
        & Q(ends_at__gt=at)
    ).select_related("room__quarter__establishment", "detainee", "contact")
    if detainee is not None:
        qs = qs.filter(detainee=detainee)
    for booking in qs.order_by("starts_at"):
        if can_start_call(booking, at):
            return booking
    return None
