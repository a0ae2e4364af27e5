import time
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.factories import EstablishmentFactory, staff_with_role

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def _code(device: TOTPDevice) -> str:
    """What the staff member's authenticator app would show now."""
    oath = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    oath.time = time.time()
    return f"{oath.token():06d}"


def _password_step(client, user):
    return client.post(
        "/console/connexion/",
        {"username": user.username, "password": PASSWORD, "next": "/console/"},
    )


def test_it_enrols_then_requires_totp_for_a_guard(client):
    guard = staff_with_role("guard", EstablishmentFactory())
    response = _password_step(client, guard)
    assert response.status_code == 302
    assert response["Location"].startswith("/console/connexion/totp/")
    # Every console and admin page sends back to the second factor until it is proven.
    for url in ("/console/", "/console/messages/", "/admin/"):
        assert client.get(url)["Location"].startswith("/console/connexion/totp/"), url
    page = unescape(client.get("/console/connexion/totp/").content.decode())
    assert "<svg" in page and "Clé à saisir à la main" in page
    device = TOTPDevice.objects.get(user=guard)
    assert not device.confirmed
    wrong = client.post("/console/connexion/totp/", {"token": "000000", "next": "/console/"})
    assert wrong.status_code == 400
    assert client.get("/console/").status_code == 302
    # django_otp throttles after a failure (1 s, then doubling): wait it out.
    with time_machine.travel(timezone.now() + timedelta(seconds=3)):
        right = client.post(
            "/console/connexion/totp/", {"token": _code(device), "next": "/console/"}
        )
    assert right["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEvent.objects.filter(action="staff.totp_enrolled", actor=guard).exists()


def test_it_asks_an_enrolled_user_for_the_code_without_showing_the_secret(client):
    supervisor = staff_with_role("supervisor", EstablishmentFactory())
    device = TOTPDevice.objects.create(user=supervisor, name="phone", confirmed=True)
    _password_step(client, supervisor)
    page = unescape(client.get("/console/connexion/totp/").content.decode())
    assert "<svg" not in page
    client.post("/console/connexion/totp/", {"token": _code(device)})
    assert client.get("/console/").status_code == 200


@pytest.mark.parametrize("role", ["auditor", "booking_officer"])
def test_every_role_that_sees_personal_data_needs_the_second_factor(client, role):
    """Issue #17, finding 8: booking officers and auditors see names, phone numbers and
    the audit log; a password alone no longer lets them in."""
    user = staff_with_role(role, EstablishmentFactory())
    response = _password_step(client, user)
    assert response["Location"].startswith("/console/connexion/totp/")
    assert client.get("/console/")["Location"].startswith("/console/connexion/totp/")


def test_it_refuses_a_wrong_password_with_one_message(client):
    guard = staff_with_role("guard", EstablishmentFactory())
    response = client.post("/console/connexion/", {"username": guard.username, "password": "x"})
    assert response.status_code == 400
    assert "Identifiant ou mot de passe incorrect." in unescape(response.content.decode())
    assert client.get("/console/").status_code == 302


def test_the_admin_login_goes_through_the_console_sign_in(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response["Location"] == "/console/connexion/?next=/admin/"


def test_a_director_resets_a_lost_second_factor_through_the_admin(client):
    from tests.factories import sign_in

    establishment = EstablishmentFactory()
    guard = staff_with_role("guard", establishment)
    director = staff_with_role("director", establishment)
    TOTPDevice.objects.create(user=guard, name="phone", confirmed=True)
    sign_in(client, director)
    response = client.post(
        "/admin/people/staffuser/",
        {
            "action": "reset_second_factor",
            "_selected_action": [guard.pk],
            "apply": "1",
            "reason": "Téléphone perdu, ticket 42",
        },
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=guard).exists()
    event = AuditEvent.objects.get(action="staff.totp_reset")
    assert event.data["reason"] == "Téléphone perdu, ticket 42"
    # The guard enrols a new authenticator at the next sign-in.
    guard_client = client.__class__()
    _password_step(guard_client, guard)
    page = unescape(guard_client.get("/console/connexion/totp/").content.decode())
    assert "<svg" in page


def test_a_director_of_another_establishment_cannot_reset_it(client):
    from tests.factories import sign_in

    guard = staff_with_role("guard", EstablishmentFactory())
    director = staff_with_role("director", EstablishmentFactory())
    TOTPDevice.objects.create(user=guard, name="phone", confirmed=True)
    sign_in(client, director)
    client.post(
        "/admin/people/staffuser/",
        {
            "action": "reset_second_factor",
            "_selected_action": [guard.pk],
            "apply": "1",
            "reason": "x",
        },
    )
    assert TOTPDevice.objects.filter(user=guard).exists()
