"""Benchmark: free slots of one detainee in an establishment with 10 rooms, over 14 days.

Runs on a scratch test database of whichever engine is configured (SQLite by default,
PostgreSQL with DATABASE_URL), fills it, times ``free_slots`` and drops the database.

    .venv/bin/python bench/bench_availability.py [--repeat 50]

Goal: p50 under 50 ms. Results are kept in docs/performance.md.
"""

import argparse
import os
import statistics
import sys
import time as clock
from datetime import datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parloir.test_settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

ROOMS = 10
DAYS = 14
DETAINEES = 300


def build():
    from bookings.models import Booking, BookingRules, Closure, OpeningHours
    from establishments.models import Establishment, Quarter, VideoRoom
    from people.models import AuthorizedContact, Detainee, PhoneAccount

    est = Establishment.objects.create(
        name="CP Bench", code="bench", address="-", contact_phone="+33251421100", contact_hours="-"
    )
    quarter = Quarter.objects.create(establishment=est, code="MA", name="MA", kind="ma")
    rooms = [VideoRoom.objects.create(quarter=quarter, name=f"Salle {i}") for i in range(ROOMS)]
    rules = BookingRules.objects.create(
        establishment=est, weekly_quota=50, monthly_quota=200, max_days_ahead=30
    )
    OpeningHours.objects.bulk_create(
        OpeningHours(establishment=est, rules=rules, weekday=w, opens_at=o, closes_at=c)
        for w in range(7)
        for o, c in ((time(8), time(12)), (time(13, 30), time(17, 30)))
    )
    detainees = Detainee.objects.bulk_create(
        Detainee(
            establishment=est,
            quarter=quarter,
            prison_number=str(100000 + i),
            last_name=f"D{i}",
            first_name="X",
        )
        for i in range(DETAINEES)
    )
    PhoneAccount.objects.bulk_create(PhoneAccount(detainee=d, pin_hash="!") for d in detainees)
    contacts = AuthorizedContact.objects.bulk_create(
        AuthorizedContact(
            detainee=d,
            first_name="C",
            last_name="C",
            phone_number=f"+336{10000000 + i:08d}",
            line_type="mobile",
            relationship="parent",
            status="approved",
        )
        for i, d in enumerate(detainees)
    )
    # Two slots in five are taken, by the other detainees, in turn.
    zone = est.zone
    today = timezone.localdate(timezone=zone)
    bookings, n = [], 0
    for day in range(DAYS):
        for room in rooms:
            for k in range(16):
                if k % 5 in (1, 3):
                    hour = 8 * 60 + 30 * k if k < 8 else 13 * 60 + 30 + 30 * (k - 8)
                    start = datetime.combine(
                        today + timedelta(days=day), time(hour // 60, hour % 60), tzinfo=zone
                    )
                    i = 1 + n % (DETAINEES - 1)
                    n += 1
                    bookings.append(
                        Booking(
                            room=room,
                            detainee=detainees[i],
                            contact=contacts[i],
                            starts_at=start,
                            ends_at=start + timedelta(minutes=30),
                            booked_via="kiosk",
                        )
                    )
    # One detainee per room-slot instant at most: spread them so none is in two rooms.
    seen, kept = set(), []
    for b in bookings:
        if (b.detainee_id, b.starts_at) not in seen:
            seen.add((b.detainee_id, b.starts_at))
            kept.append(b)
    Booking.objects.bulk_create(kept)
    start = datetime.combine(today + timedelta(days=3), time(0), tzinfo=zone)
    Closure.objects.create(
        establishment=est,
        room=rooms[0],
        kind="out_of_service",
        starts_at=start,
        ends_at=start + timedelta(days=2),
        reason="bench",
    )
    return detainees[0], today, len(kept)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    from bookings.availability import free_slots

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        detainee, today, booked = build()
        end = today + timedelta(days=DAYS - 1)
        free_slots(detainee, today, end)  # warm caches (zoneinfo, query compilation)
        timings = []
        for _ in range(args.repeat):
            t0 = clock.perf_counter()
            slots = free_slots(detainee, today, end)
            timings.append((clock.perf_counter() - t0) * 1000)
        with CaptureQueriesContext(connection) as queries:
            free_slots(detainee, today, end)
        timings.sort()
        p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
        print(
            f"engine={connection.vendor} rooms={ROOMS} days={DAYS} booked={booked} "
            f"free={len(slots)} queries={len(queries)} repeat={args.repeat} "
            f"p50={statistics.median(timings):.1f}ms p95={p95:.1f}ms max={timings[-1]:.1f}ms"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
