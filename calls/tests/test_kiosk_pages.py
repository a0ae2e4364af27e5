from datetime import timedelta
from html import unescape

import pytest
from django.conf import settings
from django.utils import timezone

from calls import actions
from calls.access import KIOSK_COOKIE
from calls.models import Call
from calls.tests.helpers import ready_call
from establishments.actions import do_revoke_kiosk
from people.actions import PIN_MAX_FAILURES
from tests.factories import staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def _kiosk_client(client, ready):
    client.cookies[KIOSK_COOKIE] = ready.credential
    return client


def test_it_refuses_a_device_without_a_credential(client):
    response = client.get("/kiosk/")
    assert response.status_code == 403
    assert "Borne non autorisée" in unescape(response.content.decode())


def test_it_refuses_a_revoked_device(client):
    ready = ready_call()
    _kiosk_client(client, ready)
    assert client.get("/kiosk/").status_code == 200
    director = staff_with_role("director", ready.site.establishment)
    do_revoke_kiosk(ready.device, reason="Borne volée", actor=director)
    assert client.get("/kiosk/").status_code == 403


def test_it_signs_in_shows_the_booking_and_starts_the_call(client, settings):
    ready = ready_call()
    _kiosk_client(client, ready)
    detainee = ready.site.detainee
    response = client.post("/kiosk/", {"prison_number": detainee.prison_number, "pin": "1234"})
    assert response["Location"] == "/kiosk/accueil"
    page = client.get("/kiosk/accueil").content.decode()
    assert "Appeler" in page
    assert ready.site.contact.first_name in page
    response = client.post("/kiosk/appel", {"booking": ready.booking.pk})
    call = Call.objects.get(booking=ready.booking)
    assert response["Location"] == f"/kiosk/appel/{call.pk}"
    page = client.get(f"/kiosk/appel/{call.pk}").content.decode()
    assert "En attente de votre proche" in page
    assert "Validité du code" in page


def test_it_locks_the_account_after_repeated_wrong_pins(client):
    ready = ready_call()
    _kiosk_client(client, ready)
    number = ready.site.detainee.prison_number
    for _ in range(PIN_MAX_FAILURES):
        response = client.post("/kiosk/", {"prison_number": number, "pin": "9999"})
        assert response.status_code == 400
    response = client.post("/kiosk/", {"prison_number": number, "pin": "1234"})
    assert response.status_code == 400  # locked, even with the right PIN
    ready.site.detainee.account.refresh_from_db()
    assert ready.site.detainee.account.locked_until is not None


def test_the_same_error_for_an_unknown_prison_number(client):
    ready = ready_call()
    _kiosk_client(client, ready)
    unknown = client.post("/kiosk/", {"prison_number": "nobody", "pin": "1234"})
    wrong_pin = client.post(
        "/kiosk/", {"prison_number": ready.site.detainee.prison_number, "pin": "0000"}
    )
    assert unknown.status_code == wrong_pin.status_code == 400
    assert "Numéro d'écrou ou code PIN incorrect" in unescape(unknown.content.decode())
    assert "Numéro d'écrou ou code PIN incorrect" in unescape(wrong_pin.content.decode())


def test_a_detainee_cannot_see_another_detainees_call(client):
    ready = ready_call()
    other = ready_call()
    from calls.tests.helpers import start

    other_call = start(other)
    _kiosk_client(client, ready)
    client.post("/kiosk/", {"prison_number": ready.site.detainee.prison_number, "pin": "1234"})
    assert client.get(f"/kiosk/appel/{other_call.pk}").status_code == 404


def test_it_activates_a_kiosk_with_its_credential(client):
    ready = ready_call()
    response = client.post("/kiosk/activer", {"credential": "nope.nope"})
    assert response.status_code == 400
    response = client.post("/kiosk/activer", {"credential": ready.credential})
    assert response["Location"] == "/kiosk/"
    assert client.cookies[KIOSK_COOKIE].value == ready.credential
    assert client.cookies[KIOSK_COOKIE]["httponly"]
    assert client.get("/kiosk/").status_code == 200


def test_the_detainee_books_and_cancels_at_the_kiosk_and_the_relative_is_told(client, settings):
    import json

    from bookings.models import Booking

    ready = ready_call()
    _kiosk_client(client, ready)
    client.post("/kiosk/", {"prison_number": ready.site.detainee.prison_number, "pin": "1234"})
    page = unescape(client.get("/kiosk/reserver").content.decode())
    assert "Réserver un créneau" in page
    import re

    # The last slot offered: far beyond the cancellation deadline.
    slot = re.findall(r'name="slot" value="([^"]+)"', page)[-1]
    response = client.post(
        "/kiosk/reserver", {"contact": ready.site.contact.pk, "slot": unescape(slot)}
    )
    assert response["Location"] == "/kiosk/accueil"
    booking = Booking.objects.exclude(pk=ready.booking.pk).get(detainee=ready.site.detainee)
    assert booking.booked_via == "kiosk"
    told = [json.loads(line) for line in settings.OUTBOX_PATH.read_text().splitlines()]
    assert told[-1]["purpose"] == "booking_made"
    response = client.post(f"/kiosk/reservations/{booking.pk}/annuler", {"reason": "Malade"})
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    told = [json.loads(line) for line in settings.OUTBOX_PATH.read_text().splitlines()]
    assert told[-1]["purpose"] == "booking_cancelled"


def test_a_detainee_cannot_cancel_another_detainees_booking_at_the_kiosk(client):
    ready = ready_call()
    other = ready_call()
    _kiosk_client(client, ready)
    client.post("/kiosk/", {"prison_number": ready.site.detainee.prison_number, "pin": "1234"})
    response = client.post(f"/kiosk/reservations/{other.booking.pk}/annuler", {"reason": "x"})
    assert response.status_code == 404
    other.booking.refresh_from_db()
    assert other.booking.status == "booked"


def _detainee_reading(client, language: str):
    """A signed-out kiosk, and a detainee whose recorded language is ``language``."""
    ready = ready_call()
    _kiosk_client(client, ready)
    detainee = ready.site.detainee
    detainee.language = language
    detainee.save(update_fields=["language"])
    return detainee


def test_the_kiosk_speaks_the_detainees_language_until_sign_out(client):
    detainee = _detainee_reading(client, "ar")
    client.post("/kiosk/", {"prison_number": detainee.prison_number, "pin": "1234"})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"
    assert '<html lang="ar"' in client.get("/kiosk/accueil").content.decode()

    client.post("/kiosk/sortie")
    # The next detainee at this shared kiosk starts in French.
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""
    assert '<html lang="fr"' in client.get("/kiosk/").content.decode()


def test_a_language_picked_on_the_sign_in_screen_wins_over_the_recorded_one(client):
    detainee = _detainee_reading(client, "ar")
    client.post("/i18n/setlang/", {"language": "ro", "next": "/kiosk/"})
    client.post("/kiosk/", {"prison_number": detainee.prison_number, "pin": "1234"})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ro"
    assert '<html lang="ro"' in client.get("/kiosk/accueil").content.decode()


def test_a_replaced_call_page_lands_on_home_saying_the_call_goes_on_elsewhere(client):
    ready = ready_call()
    _kiosk_client(client, ready)
    detainee = ready.site.detainee
    client.post("/kiosk/", {"prison_number": detainee.prison_number, "pin": "1234"})
    client.post("/kiosk/appel", {"booking": ready.booking.pk})
    call = Call.objects.get(booking=ready.booking)
    elsewhere = "L'appel continue dans un autre onglet ou sur un autre appareil."
    page = unescape(client.get("/kiosk/accueil?ailleurs=1").content.decode())
    assert elsewhere in page
    assert f'href="/kiosk/appel/{call.pk}"' in page
    # Once the call is over there, nothing goes on elsewhere.
    actions.do_end_call(call, "hung_up_relative", by="relative")
    assert elsewhere not in unescape(client.get("/kiosk/accueil?ailleurs=1").content.decode())
    assert elsewhere not in unescape(client.get("/kiosk/accueil").content.decode())


def _signed_in_on_call(client, ready):
    _kiosk_client(client, ready)
    client.post("/kiosk/", {"prison_number": ready.site.detainee.prison_number, "pin": "1234"})
    client.post("/kiosk/appel", {"booking": ready.booking.pk})
    return Call.objects.get(booking=ready.booking)


def test_the_call_page_keeps_the_kiosk_session_alive_while_it_is_open(
    client, settings, time_machine
):
    settings.KIOSK_IDLE_SECONDS = 600
    time_machine.move_to(timezone.now(), tick=False)
    ready = ready_call()
    call = _signed_in_on_call(client, ready)
    page = client.get(f"/kiosk/appel/{call.pk}").content.decode()
    assert f'data-keep-alive-url="/kiosk/appel/{call.pk}/present"' in page
    assert 'data-keep-alive-ms="120000"' in page

    # The page's heartbeat every two minutes, for longer than the idle limit.
    for _ in range(10):
        time_machine.shift(timedelta(minutes=2))
        response = client.get(f"/kiosk/appel/{call.pk}/present")
        assert response.status_code == 204 and response["Cache-Control"] == "no-store"
        assert client.cookies["sessionid"]["max-age"] == 600
    # Twenty minutes on, the detainee is still signed in: the socket's hello needs it.
    assert client.get(f"/kiosk/appel/{call.pk}").status_code == 200

    time_machine.shift(timedelta(minutes=11))
    assert client.get(f"/kiosk/appel/{call.pk}")["Location"] == "/kiosk/"


def test_the_heartbeat_is_only_for_the_detainees_own_call(client):
    ready = ready_call()
    _signed_in_on_call(client, ready)
    other = actions.do_start_call(ready_call().booking, device_label="Borne 2")
    assert client.get(f"/kiosk/appel/{other.pk}/present").status_code == 410


def test_the_kiosk_call_page_names_the_codes_channel_in_a_place_it_can_update(client):
    ready = ready_call()
    call = _signed_in_on_call(client, ready)
    page = unescape(client.get(f"/kiosk/appel/{call.pk}").content.decode())
    assert '<span id="message-channel">SMS</span>' in page
    assert '"voice": "Appel vocal"' in page


def test_the_heartbeat_stops_renewing_the_session_once_the_call_is_over(
    client, settings, time_machine
):
    """A call page left open after its call (a refused camera, a lost network) must not
    keep a shared kiosk signed in for the next detainee."""
    settings.KIOSK_IDLE_SECONDS = 600
    time_machine.move_to(timezone.now(), tick=False)
    ready = ready_call()
    call = _signed_in_on_call(client, ready)
    actions.do_end_call(call, Call.EndReason.HUNG_UP_DETAINEE, by="kiosk")

    for _ in range(6):
        time_machine.shift(timedelta(minutes=2))
        assert client.get(f"/kiosk/appel/{call.pk}/present").status_code == 410
    # Twelve minutes without a renewal: signed out.
    assert client.get("/kiosk/accueil")["Location"] == "/kiosk/"
