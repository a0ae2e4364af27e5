"""The console's statistics pages: scoped by role, per day, week or month, charts and CSV."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ops import rollup
from ops.models import DailyStats
from tests.factories import EstablishmentFactory, VideoRoomFactory, sign_in, staff_with_role

pytestmark = pytest.mark.django_db

FIRST = date(2026, 3, 2)  # a Monday


def _days(establishment, n=14, **figures):
    VideoRoomFactory(quarter__establishment=establishment)
    DailyStats.objects.bulk_create(
        DailyStats(
            establishment=establishment,
            day=FIRST + timedelta(days=i),
            computed_at=timezone.now(),
            **{
                "booked": 10,
                "held": 7,
                "failed": 1,
                "held_seconds": 7 * 1200,
                "sms_total": 10,
                "sms_delivered": 9,
                "busy_10": 3600,
                **figures,
            },
        )  # fmt: skip
        for i in range(n)
    )


@pytest.fixture
def two():
    a, b = EstablishmentFactory(name="CP Alpha"), EstablishmentFactory(name="CP Beta")
    _days(a)
    _days(b, booked=20, held=15)
    # The worker's second step: the country's days, out of the establishments'.
    rollup.national(FIRST, FIRST + timedelta(days=13))
    return a, b


def _csv(client, **params):
    response = client.get(reverse("console:statistics_csv"), params)
    assert response.status_code == 200
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def _span(**extra):
    return {"du": FIRST.isoformat(), "au": (FIRST + timedelta(days=13)).isoformat(), **extra}


def test_a_director_sees_their_establishment_and_not_the_other(client, two):
    a, b = two
    sign_in(client, staff_with_role("director", a))
    page = client.get(reverse("console:statistics"), _span())
    assert page.status_code == 200
    body = page.content.decode()
    assert "CP Alpha" in body and "CP Beta" not in body
    rows = _csv(client, **_span())
    assert rows[0][:3] == ["Période", "Appels réservés", "Appels tenus"]
    assert len(rows) == 1 + 14
    assert sum(int(r[1]) for r in rows[1:]) == 14 * 10  # Alpha's bookings only
    refused = client.get(reverse("console:statistics"), _span(etablissement=b.pk))
    assert refused.status_code == 403
    assert (
        client.get(reverse("console:statistics_csv"), _span(etablissement=b.pk)).status_code == 403
    )


def test_a_national_administrator_sees_the_country_and_each_establishment(client, two):
    a, b = two
    sign_in(client, staff_with_role("national_admin", None))
    rows = _csv(client, **_span(pas="week"))
    # Two weeks, Monday to Sunday: every day of both establishments.
    assert [r[0] for r in rows[1:]] == ["2026-03-02", "2026-03-09"]
    assert [int(r[1]) for r in rows[1:]] == [7 * 30, 7 * 30]
    assert [int(r[2]) for r in rows[1:]] == [7 * 22, 7 * 22]
    body = client.get(reverse("console:statistics"), _span()).content.decode()
    assert 'id="stats-establishments"' not in body and 'id="stats-split"' in body
    body = client.get(reverse("console:statistics"), _span(par="etablissement")).content.decode()
    assert 'id="stats-establishments"' in body and "CP Alpha" in body and "CP Beta" in body
    split = _csv(client, **_span(par="etablissement"))
    assert split[0][:2] == ["Établissement", "Appels réservés"]
    assert [(r[0], int(r[1])) for r in split[1:]] == [("CP Beta", 14 * 20), ("CP Alpha", 14 * 10)]
    one = _csv(client, **_span(pas="month", etablissement=b.pk))
    assert [r[0] for r in one[1:]] == ["2026-03-01"]
    assert int(one[1][1]) == 14 * 20


def test_roles_without_the_statistics_right_are_refused(client, two):
    a, _b = two
    for role in ("guard", "booking_officer"):
        sign_in(client, staff_with_role(role, a))
        assert client.get(reverse("console:statistics")).status_code == 403
    sign_in(client, staff_with_role("auditor", a))
    assert client.get(reverse("console:statistics")).status_code == 200


def test_the_charts_are_drawn_in_the_page(client, two):
    a, _b = two
    sign_in(client, staff_with_role("director", a))
    body = client.get(reverse("console:statistics"), _span()).content.decode()
    assert body.count('<svg class="chart"') == 4
    # A bar of held calls per day, with its figure in its tooltip.
    assert body.count("– Appels tenus : 7</title></rect>") == 14
    # One room busy one hour a day out of 24: 100% at 10h, nothing else.
    assert "10h – Occupation : 100 %</title>" in body
    # The delivery rate: 9 codes out of 10.
    assert "– SMS : 90 %</title></circle>" in body


def test_rates_and_minutes_are_computed_from_the_sums(client, two):
    a, _b = two
    sign_in(client, staff_with_role("director", a))
    rows = _csv(client, **_span(pas="month"))
    header, month = rows[0], rows[1]
    figures = dict(zip(header, month, strict=True))
    assert figures["Minutes tenues"] == str(14 * 7 * 20)
    assert figures["SMS remis (%)"] == "90.0"
    assert figures["Appels vocaux remis (%)"] == ""  # none sent: no rate, not 0%


def test_impossible_parameters_answer_400(client, two):
    a, _b = two
    sign_in(client, staff_with_role("director", a))
    url = reverse("console:statistics")
    assert client.get(url, {"pas": "year"}).status_code == 400
    assert client.get(url, {"du": "2026-03-10", "au": "2026-03-01"}).status_code == 400
    assert client.get(url, {"du": "2020-01-01", "au": "2026-03-01"}).status_code == 400
