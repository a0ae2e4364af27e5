"""Benchmark: the console's statistics pages on a year of 200 establishments.

Runs on a scratch test database of whichever engine is configured (SQLite by default,
PostgreSQL with DATABASE_URL), fills it, times the pages through Django's test client
(every middleware, the template, the SVG charts) and drops the database.

- The pages: 200 establishments of 2 to 6 rooms, a year of DailyStats rows each (73,000
  rows, the figures of ~15 calls a day). A national administrator's pages (the country,
  per day over 30 days, per week over 12 weeks, per month over a year, its CSV) and a
  director's (one establishment, per day and per month).
- The statistics worker: one establishment with a year of raw bookings, calls and code
  messages (4 rooms, 8 slots a day each: 11,680 bookings), counted the first time (the
  whole year) and then as every pass does (the last days).

    .venv/bin/python bench/bench_stats.py [--repeat 30] [--no-doc]

Goal: every statistics page under 300 ms at p95. Results go to docs/performance.md.
"""

import argparse
import os
import random
import sys
import time as clock
from datetime import datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parloir.test_settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import perfdoc  # noqa: E402

ESTABLISHMENTS = 200
DAYS = 365
HEADING = "Statistics (bench_stats.py)"


def build_daily(today):
    from establishments.models import Establishment, Quarter, VideoRoom
    from ops.models import DailyStats, hour_field

    draw = random.Random(21)
    establishments = Establishment.objects.bulk_create(
        Establishment(name=f"CP Bench {i:03d}", code=f"bench-{i:03d}", address="-",
                      contact_phone="+33251421100", contact_hours="-")
        for i in range(ESTABLISHMENTS)
    )  # fmt: skip
    quarters = Quarter.objects.bulk_create(
        Quarter(establishment=e, code="MA", name="MA", kind="ma") for e in establishments
    )
    VideoRoom.objects.bulk_create(
        VideoRoom(quarter=q, name=f"Salle {r}") for q in quarters for r in range(draw.randint(2, 6))
    )
    now = timezone.now()
    rows = []
    for e in establishments:
        for n in range(DAYS):
            booked = draw.randint(5, 25)
            held = int(booked * draw.uniform(0.7, 0.9))
            sms = booked + draw.randint(0, 3)
            figures = {
                "booked": booked,
                "cancelled": draw.randint(0, 3),
                "held": held,
                "refused": draw.randint(0, 1),
                "failed": draw.randint(0, 1),
                "no_show": draw.randint(0, 2),
                "no_answer": draw.randint(0, 2),
                "interrupted": draw.randint(0, 1),
                "held_seconds": held * draw.randint(900, 1800),
                "lost_seconds": draw.choice([0, 0, 0, 0, 60, 240]),
                "given_back_seconds": draw.choice([0, 0, 0, 30, 90]),
                "sms_total": sms,
                "sms_delivered": sms - draw.randint(0, 2),
                "sms_failed": draw.randint(0, 1),
                "voice_total": draw.randint(0, 4),
                "voice_delivered": draw.randint(0, 3),
                "voice_failed": 0,
            }
            for hour in range(8, 18):
                figures[hour_field(hour)] = draw.randint(0, 3) * 1200
            rows.append(
                DailyStats(establishment=e, day=today - timedelta(days=n), computed_at=now,
                           **figures)
            )  # fmt: skip
    DailyStats.objects.bulk_create(rows, batch_size=2000)
    from ops import rollup

    t0 = clock.perf_counter()
    rollup.national(today - timedelta(days=DAYS - 1), today)
    return establishments, len(rows), clock.perf_counter() - t0


def build_raw(today):
    """One establishment's year of bookings, calls and code messages, for the worker."""
    from bookings.models import Booking
    from calls.models import Call
    from establishments.models import Establishment, Quarter, VideoRoom
    from notify.models import Message
    from people.models import AuthorizedContact, Detainee

    draw = random.Random(8)
    est = Establishment.objects.create(
        name="CP Raw", code="raw", address="-", contact_phone="+33251421100", contact_hours="-"
    )
    quarter = Quarter.objects.create(establishment=est, code="MA", name="MA", kind="ma")
    rooms = [VideoRoom.objects.create(quarter=quarter, name=f"Salle {i}") for i in range(4)]
    detainees = Detainee.objects.bulk_create(
        Detainee(establishment=est, quarter=quarter, prison_number=str(500000 + i),
                 last_name=f"D{i}", first_name="X")
        for i in range(40)
    )  # fmt: skip
    contacts = AuthorizedContact.objects.bulk_create(
        AuthorizedContact(detainee=d, first_name="C", last_name="C",
                          phone_number=f"+336{20000000 + i:08d}", line_type="mobile",
                          relationship="parent", status="approved")
        for i, d in enumerate(detainees)
    )  # fmt: skip
    zone = est.zone
    bookings = []
    for n in range(DAYS):
        day = today - timedelta(days=n)
        for slot in range(8):
            start = datetime.combine(day, time(9 + slot), tzinfo=zone)
            for r, room in enumerate(rooms):
                i = (slot * len(rooms) + r) % len(detainees)
                bookings.append(
                    Booking(room=room, detainee=detainees[i], contact=contacts[i],
                            starts_at=start, ends_at=start + timedelta(minutes=30),
                            booked_via="kiosk", status=draw.choice(
                                ["completed"] * 8 + ["no_show", "cancelled"]))
                )  # fmt: skip
    bookings = Booking.objects.bulk_create(bookings, batch_size=2000)
    calls, messages = [], []
    for b in bookings:
        if b.status != "completed":
            continue
        state = draw.choice(["ended"] * 12 + ["no_answer", "refused", "media_failed"])
        started = b.starts_at + timedelta(minutes=2) if state == "ended" else None
        ended = b.starts_at + timedelta(minutes=draw.randint(5, 29))
        calls.append(
            Call(booking=b, contact=b.contact, detainee=b.detainee,
                 link_token=f"t{b.pk:030d}", state=state, created_at=b.starts_at,
                 started_at=started, ended_at=ended,
                 end_reason={"ended": "time_up", "no_answer": "no_answer",
                             "refused": "refused_monitoring",
                             "media_failed": "media_failure"}[state])
        )  # fmt: skip
        messages.append(
            Message(establishment=est, to_number=b.contact.phone_number, channel="sms",
                    language="fr", purpose="call_code", text="Code", backend="outbox",
                    status=draw.choice(["delivered"] * 19 + ["failed"]),
                    created_at=b.starts_at)
        )  # fmt: skip
    Call.objects.bulk_create(calls, batch_size=2000)
    Message.objects.bulk_create(messages, batch_size=2000)
    return est, len(bookings)


def time_pages(client, pages, repeat):
    results = []
    for label, url, params in pages:
        client.get(url, params)  # warm: compiled templates, zoneinfo
        timings = []
        for _ in range(repeat):
            t0 = clock.perf_counter()
            response = client.get(url, params)
            timings.append(clock.perf_counter() - t0)
            assert response.status_code == 200, (url, params, response.status_code)
        with CaptureQueriesContext(connection) as queries:
            client.get(url, params)
        results.append((label, len(queries), perfdoc.percentile(timings, 0.5),
                        perfdoc.percentile(timings, 0.95)))  # fmt: skip
    return results


def _other_engines_rows(engine: str) -> list[str]:
    """The rows another engine's run left in the section: one run measures one engine."""
    import re

    text = perfdoc.PERFORMANCE_MD.read_text() if perfdoc.PERFORMANCE_MD.exists() else ""
    section = re.search(rf"^## {re.escape(HEADING)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not section:
        return []
    return [
        line
        for line in section.group(1).splitlines()
        if line.startswith("| ") and not line.startswith(("| engine", "| ---", f"| {engine} |"))
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-doc", action="store_true", help="print only")
    parser.add_argument("--max-seconds", type=int, default=900)
    args = parser.parse_args()
    perfdoc.bound_run(args.max_seconds)

    from django.urls import reverse

    from ops import rollup
    from tests.factories import sign_in, staff_with_role

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        today = timezone.localdate()
        t0 = clock.perf_counter()
        establishments, rows, national_year = build_daily(today)
        built = clock.perf_counter() - t0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        url, csv_url = reverse("console:statistics"), reverse("console:statistics_csv")
        year = {"du": (today - timedelta(days=DAYS - 1)).isoformat(), "au": today.isoformat()}
        national = sign_in(Client(), staff_with_role("national_admin", None))
        director = sign_in(Client(), staff_with_role("director", establishments[7]))
        one = {"etablissement": establishments[7].pk}
        results = time_pages(national, [
            ("national, per day, 30 days", url, {"pas": "day"}),
            ("national, per week, 12 weeks", url, {"pas": "week"}),
            ("national, per month, a year", url, {"pas": "month", **year}),
            ("national, per month, a year, CSV", csv_url, {"pas": "month", **year}),
            ("national, per establishment, a year", url,
             {"pas": "month", "par": "etablissement", **year}),
            ("national, per establishment, a year, CSV", csv_url,
             {"pas": "month", "par": "etablissement", **year}),
            ("national, one establishment, per day, a year", url, {"pas": "day", **year, **one}),
        ], args.repeat)  # fmt: skip
        results += time_pages(director, [
            ("director, per day, 30 days", url, {"pas": "day"}),
            ("director, per month, a year", url, {"pas": "month", **year}),
        ], args.repeat)  # fmt: skip

        est, raw_bookings = build_raw(today)
        t0 = clock.perf_counter()
        rollup.count(est, today - timedelta(days=DAYS - 1), today)
        first_pass = clock.perf_counter() - t0
        timings = []
        for _ in range(5):
            t0 = clock.perf_counter()
            rollup.count(est, today - timedelta(days=2), today)
            timings.append(clock.perf_counter() - t0)
        regular = perfdoc.percentile(timings, 0.5)
        t0 = clock.perf_counter()
        rollup.national(today - timedelta(days=2), today)
        national_regular = clock.perf_counter() - t0
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    engine = connection.vendor
    worst = max(p95 for _l, _q, _p50, p95 in results)
    table = "\n".join(
        [
            *_other_engines_rows(engine),
            *(
                f"| {engine} | {label} | {queries} | {perfdoc.ms(p50)} | {perfdoc.ms(p95)} |"
                for label, queries, p50, p95 in results
            ),
        ]
    )
    printed = (
        f"engine={engine} establishments={ESTABLISHMENTS} days={DAYS} rows={rows} "
        f"(built in {built:.0f} s) repeat={args.repeat}\n"
        + "\n".join(
            f"{label}: queries={q} p50={perfdoc.ms(p50)} p95={perfdoc.ms(p95)}"
            for label, q, p50, p95 in results
        )  # fmt: skip
        + f"\nworst p95 {perfdoc.ms(worst)} (goal 300 ms)"
        + f"\nworker: a year of one establishment ({raw_bookings} bookings) counted in "
        f"{first_pass:.2f} s; a regular pass (3 days) {perfdoc.ms(regular)}; the country's "
        f"year {national_year:.2f} s, its last 3 days {perfdoc.ms(national_regular)}"
    )
    body = None
    if not args.no_doc:
        body = f"""`bench/bench_stats.py`: the console's statistics pages
(`/console/statistiques/`, issue 21) through Django's test client (middleware, template,
SVG charts), on {ESTABLISHMENTS} establishments of 2 to 6 rooms with a year of daily
figures each ({rows:,} `DailyStats` rows), {args.repeat} requests per page after one
warm-up. The script builds its own scratch database and drops it. Measured on
{perfdoc.machine()}.

```
.venv/bin/python bench/bench_stats.py
DATABASE_URL=postgres://postgres@127.0.0.1:5432/parloir_bench .venv/bin/python bench/bench_stats.py
```

Goal: every statistics page under 300 ms at p95.

| engine | page | queries | p50 | p95 |
| --- | --- | --- | --- | --- |
{table}

Worst p95 on {engine}: {perfdoc.ms(worst)}. Each engine's rows come from its own run
(one run measures one engine); the worker's figures below come from the last run, on
{engine}. The pages add up one row per day (the country's, or each
establishment's in scope), never the calls themselves; the table per establishment adds
up the {rows:,} rows of a national year. The statistics worker (`ops/rollup.py`) pays
for the counting instead: one
establishment's year of raw data ({raw_bookings:,} bookings with their calls and code
messages) took {first_pass:.2f} s on its first pass, and a regular pass (today and the
two days before) {perfdoc.ms(regular)}, so some {200 * regular:.0f} s for 200
establishments every `PARLOIR_STATS_INTERVAL_SECONDS` (300 s). Then the country's days
are added up from the establishments' rows into rows of their own (what the national
pages read: 365 rows for a year): {national_year:.2f} s for the whole year the first
time, {perfdoc.ms(national_regular)} for a regular pass's three days."""
    perfdoc.publish(HEADING, printed, body)


if __name__ == "__main__":
    main()
