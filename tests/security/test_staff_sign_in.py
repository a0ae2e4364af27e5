"""Issue #17, findings 3 and 8: staff sign-in resists guessing; sessions are rotated at
each factor, ended by POST only, and do not outlive a working day or half an hour idle."""

import time
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.factories import EstablishmentFactory, sign_in, staff_with_role

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def _password(client, user, password=PASSWORD, address="192.0.2.1"):
    return client.post(
        "/console/connexion/",
        {"username": user.username, "password": password, "next": "/console/"},
        REMOTE_ADDR=address,
    )


def _code(device: TOTPDevice) -> str:
    oath = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    oath.time = time.time()
    return f"{oath.token():06d}"


def test_it_locks_an_account_after_five_wrong_passwords_even_from_many_addresses(settings):
    guard = staff_with_role("guard", EstablishmentFactory())
    for n in range(settings.AXES_FAILURE_LIMIT):
        assert _password(Client(), guard, "wrong", address=f"198.51.100.{n + 1}").status_code in (
            400,
            429,
        )
    response = _password(Client(), guard, address="198.51.100.200")
    assert response.status_code == 429
    assert "Trop de tentatives" in unescape(response.content.decode())
    # Every refusal while locked is audited, the first one at the fifth failure.
    event = AuditEvent.objects.filter(action="staff.locked_out").first()
    assert event.data["username"] == guard.username
    assert event.target_id == str(guard.pk)


def test_it_locks_an_address_that_tries_many_accounts(settings):
    establishment = EstablishmentFactory()
    users = [staff_with_role("booking_officer", establishment) for _ in range(6)]
    for user in users[: settings.AXES_FAILURE_LIMIT]:
        _password(Client(), user, "wrong", address="203.0.113.9")
    # The sixth account's right password, from that address, is refused too.
    assert _password(Client(), users[5], address="203.0.113.9").status_code == 429
    # From elsewhere, that account signs in.
    assert _password(Client(), users[5], address="203.0.113.10").status_code == 302
    assert AuditEvent.objects.filter(action="staff.locked_out").exists()


def test_a_lockout_ends_after_the_cool_off(settings):
    guard = staff_with_role("guard", EstablishmentFactory())
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _password(Client(), guard, "wrong")
    assert _password(Client(), guard).status_code == 429
    later = timezone.now() + timedelta(minutes=settings.AXES_COOLOFF_TIME * 60 + 1)
    with time_machine.travel(later):
        assert _password(Client(), guard).status_code == 302


def test_the_session_key_changes_at_each_factor(client):
    supervisor = staff_with_role("supervisor", EstablishmentFactory())
    device = TOTPDevice.objects.create(user=supervisor, name="phone", confirmed=True)
    client.get("/console/connexion/")
    client.session.save()
    before = client.cookies["sessionid"].value
    _password(client, supervisor)
    after_password = client.cookies["sessionid"].value
    response = client.post("/console/connexion/totp/", {"token": _code(device)})
    assert response.status_code == 302
    after_totp = client.cookies["sessionid"].value
    assert len({before, after_password, after_totp}) == 3
    assert client.get("/console/").status_code == 200


def test_logout_is_refused_by_get_and_done_by_post(client):
    guard = staff_with_role("guard", EstablishmentFactory())
    sign_in(client, guard)
    assert client.get("/console/deconnexion/").status_code == 405
    assert client.get("/admin/logout/").status_code == 405
    assert client.get("/console/").status_code == 200
    assert client.post("/console/deconnexion/")["Location"] == "/console/connexion/"
    assert client.get("/console/").status_code == 302


def test_a_staff_session_ends_after_half_an_hour_idle(client, settings):
    guard = staff_with_role("guard", EstablishmentFactory())
    sign_in(client, guard)
    assert client.get("/console/").status_code == 200
    idle = timezone.now() + timedelta(seconds=settings.STAFF_SESSION_IDLE_SECONDS + 60)
    with time_machine.travel(idle):
        response = client.get("/console/")
    assert response["Location"].startswith("/console/connexion/")


def test_a_staff_session_ends_after_a_working_day_however_busy(client, settings):
    guard = staff_with_role("guard", EstablishmentFactory())
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        sign_in(client, guard)
        assert client.get("/console/").status_code == 200
        elapsed = 0
        while elapsed < settings.STAFF_SESSION_MAX_SECONDS - 600:
            elapsed += 600
            clock.move_to(start + timedelta(seconds=elapsed))
            assert client.get("/console/").status_code == 200, elapsed
        clock.move_to(start + timedelta(seconds=settings.STAFF_SESSION_MAX_SECONDS + 1))
        assert client.get("/console/")["Location"].startswith("/console/connexion/")


def test_the_idle_limit_is_configurable(client, settings):
    settings.STAFF_SESSION_IDLE_SECONDS = 120
    guard = staff_with_role("guard", EstablishmentFactory())
    sign_in(client, guard)
    assert client.get("/console/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=180)):
        assert client.get("/console/").status_code == 302


def test_a_staff_member_without_a_role_may_enrol_and_is_then_asked(client):
    from tests.factories import StaffFactory

    user = StaffFactory()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    response = _password(client, user)
    assert response["Location"].startswith("/console/connexion/totp/")
    client.post("/console/connexion/totp/", {"token": _code(device)})
    assert client.session.get("otp_device_id") == device.persistent_id
