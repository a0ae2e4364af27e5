"""Staff views: what they show, what they do, and that they stay within one's establishments."""

from datetime import UTC

import pytest
from django.conf import settings
from django.urls import reverse

from bookings.models import Booking, Closure
from bookings.tests.conftest import MONDAY
from bookings.tests.factories import ClosureFactory, book, local, open_room
from notify.models import Message
from people.models import Role
from tests.factories import sign_in, staff_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_site(site):
    """Establishment B, with its own booking."""
    b = open_room(
        opens=site.rules.hours.first().opens_at, closes=site.rules.hours.first().closes_at
    )
    book(b, MONDAY, 10)
    return b


def login(client, role, establishment):
    user = staff_with_role(role, establishment)
    sign_in(client, user)
    return user


def test_it_shows_todays_calls_with_their_status(client, site, booking, time_machine):
    login(client, Role.Name.GUARD, site.establishment)
    time_machine.move_to(local(MONDAY, 9, 56), tick=False)
    page = client.get(reverse("console:bookings_today")).content.decode()
    assert site.detainee.prison_number in page and "10:00–10:30" in page
    assert "Appel possible maintenant" in page
    assert "Réserver pour une personne détenue" not in page  # a guard does not book


def test_it_shows_a_room_day_and_week_with_free_booked_and_closed_slots(client, site, booking):
    ClosureFactory(
        establishment=site.establishment,
        room=site.room,
        kind=Closure.Kind.OUT_OF_SERVICE,
        reason="Caméra en panne",
        starts_at=local(MONDAY, 11),
        ends_at=local(MONDAY, 12),
    )
    login(client, Role.Name.GUARD, site.establishment)
    url = reverse("console:room_calendar", args=[site.room.pk])
    day = client.get(url, {"date": "2027-03-01"}).content.decode()
    assert day.count('class="slot-free"') == 3  # 09:00, 09:30, 10:30
    assert day.count('class="slot-booked"') == 1
    assert day.count('class="slot-closed"') == 2
    assert "Caméra en panne" in day and site.detainee.prison_number in day
    week = client.get(url, {"date": "2027-03-03", "view": "week"}).content.decode()
    assert week.count("<section") == 7 and "lundi 1 mars" in week and "dimanche 7 mars" in week


def test_it_prints_the_guards_sheet(client, site, booking):
    login(client, Role.Name.GUARD, site.establishment)
    page = client.get(
        reverse("console:room_sheet", args=[site.room.pk]), {"date": "2027-03-01"}
    ).content.decode()
    # The print layout lives in the stylesheet (no inline style under the CSP), and the
    # button prints through static/js/print.js.
    assert "data-print" in page and "js/print.js" in page
    stylesheet = (settings.BASE_DIR / "static" / "css" / "parloir.css").read_text()
    assert "@media print" in stylesheet and ".sheet" in stylesheet
    assert site.detainee.prison_number in page and site.contact.first_name in page
    assert "10:00–10:30" in page


def test_it_books_for_a_detainee_and_tells_the_relative(client, site):
    officer = login(client, Role.Name.BOOKING_OFFICER, site.establishment)
    url = reverse("console:booking_new")
    assert (
        site.detainee.prison_number
        in client.get(url, {"q": site.detainee.prison_number}).content.decode()
    )
    form = client.get(url, {"detainee": site.detainee.pk}).content.decode()
    value = f"{site.room.pk}|{local(MONDAY, 10).astimezone(UTC).isoformat()}"
    assert value in form
    response = client.post(
        url, {"detainee": site.detainee.pk, "slot": value, "contact": site.contact.pk}
    )
    booking = Booking.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("console:booking_detail", args=[booking.pk])
    assert (booking.booked_via, booking.booked_by) == ("staff", officer)
    assert Message.objects.get().purpose == "booking_made"
    again = client.post(
        url, {"detainee": site.detainee.pk, "slot": value, "contact": site.contact.pk}
    )
    assert again.status_code == 400
    assert "Ce créneau vient d&#x27;être réservé." in again.content.decode()


def test_it_cancels_with_a_reason_and_records_a_no_show(client, site, booking, time_machine):
    login(client, Role.Name.BOOKING_OFFICER, site.establishment)
    cancel = reverse("console:booking_cancel", args=[booking.pk])
    client.post(cancel, {"reason": ""})
    booking.refresh_from_db()
    assert booking.status == "booked"
    client.post(cancel, {"reason": "Extraction judiciaire"})
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    detail = client.get(reverse("console:booking_detail", args=[booking.pk])).content.decode()
    assert "Extraction judiciaire" in detail

    other = book(site, MONDAY, 11)
    time_machine.move_to(local(MONDAY, 11, 10), tick=False)
    login(client, Role.Name.GUARD, site.establishment)
    client.post(reverse("console:booking_no_show", args=[other.pk]), {"reason": "Refus"})
    other.refresh_from_db()
    assert other.status == "no_show"


def test_it_keeps_each_establishment_to_itself(client, site, booking, other_site):
    theirs = Booking.objects.get(detainee=other_site.detainee)
    for role in (Role.Name.GUARD, Role.Name.BOOKING_OFFICER):
        login(client, role, site.establishment)
        for url in (
            reverse("console:room_calendar", args=[other_site.room.pk]),
            reverse("console:room_sheet", args=[other_site.room.pk]),
            reverse("console:booking_detail", args=[theirs.pk]),
        ):
            assert client.get(url).status_code == 404, (role, url)
        assert client.post(reverse("console:booking_no_show", args=[theirs.pk])).status_code == 404
        today = client.get(reverse("console:bookings_today")).content.decode()
        assert other_site.detainee.prison_number not in today
        today_b = client.get(
            reverse("console:bookings_today"), {"establishment": other_site.establishment.pk}
        ).content.decode()
        assert other_site.detainee.prison_number not in today_b
    # The booking officer of A can neither book for B's detainee nor cancel B's booking.
    assert (
        client.get(reverse("console:booking_new"), {"detainee": other_site.detainee.pk}).status_code
        == 404
    )
    assert (
        client.post(
            reverse("console:booking_cancel", args=[theirs.pk]), {"reason": "x"}
        ).status_code
        == 404
    )
    found = client.get(reverse("console:booking_new"), {"q": other_site.detainee.prison_number})
    assert f"?detainee={other_site.detainee.pk}" not in found.content.decode()
    theirs.refresh_from_db()
    assert theirs.status == "booked"


def test_it_refuses_a_room_of_another_establishment_in_the_booking_form(client, site, other_site):
    login(client, Role.Name.BOOKING_OFFICER, site.establishment)
    value = f"{other_site.room.pk}|{local(MONDAY, 11).isoformat()}"
    response = client.post(
        reverse("console:booking_new"),
        {"detainee": site.detainee.pk, "slot": value, "contact": site.contact.pk},
    )
    assert response.status_code == 404
    assert not Booking.objects.filter(detainee=site.detainee).exists()


def test_it_sends_anonymous_users_to_sign_in_and_refuses_auditors_the_booking_form(client, site):
    assert client.get(reverse("console:bookings_today")).status_code == 302
    login(client, Role.Name.AUDITOR, site.establishment)
    assert client.get(reverse("console:booking_new")).status_code == 403
