import pytest
from django.core.management import call_command

from audit.log import verify
from audit.models import AuditEvent
from establishments.models import Establishment, Quarter, VideoRoom
from people.models import AuthorizedContact, Detainee, Role, StaffUser

pytestmark = pytest.mark.django_db


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (
            Establishment,
            Quarter,
            VideoRoom,
            Detainee,
            AuthorizedContact,
            Role,
            StaffUser,
            AuditEvent,
        )
    }


def test_it_builds_nantes_with_its_quarters_people_and_one_account_per_role(capsys):
    call_command("demo")
    nantes = Establishment.objects.get(code="cp-nantes")
    assert set(nantes.quarters.values_list("code", flat=True)) == {"QMA", "QCD", "QSL"}
    assert VideoRoom.objects.filter(quarter__establishment=nantes).count() >= 3
    assert Detainee.objects.filter(establishment=nantes).count() == 12
    line_types = set(AuthorizedContact.objects.values_list("line_type", flat=True))
    assert {"mobile", "landline"} <= line_types
    assert set(Role.objects.values_list("name", flat=True)) == {
        "national_admin",
        "director",
        "supervisor",
        "guard",
        "booking_officer",
        "auditor",
    }
    for detainee in Detainee.objects.all():
        assert detainee.account.balance_cents() == 2000
    out = capsys.readouterr().out
    assert "directeur" in out and "24001 / 1234" in out
    assert verify() is None


def test_it_is_idempotent():
    call_command("demo")
    first = _counts()
    call_command("demo")
    assert _counts() == first


def test_it_skips_a_non_empty_database_with_if_empty(capsys):
    call_command("demo")
    before = _counts()
    call_command("demo", "--if-empty")
    assert _counts() == before
    assert "not empty" in capsys.readouterr().out


# --- Bookings now: the demo can call at any time of day, on every run ----------------


def _booking_now(number: str):
    from bookings.models import Booking

    return Booking.objects.get(detainee__prison_number=number, status="booked")


def _callable_with_a_whole_call(booking) -> bool:
    from django.utils import timezone

    from calls.actions import check_can_call

    check_can_call(booking, booking.contact)  # raises CallRefused otherwise
    minutes = booking.room.quarter.establishment.call_minutes
    return (booking.ends_at - timezone.now()).total_seconds() >= minutes * 60


def test_each_caller_can_call_at_once_from_the_kiosk_printed(client, capsys):
    import re

    from parloir.demo_extensions import CALLERS

    call_command("demo")
    out = capsys.readouterr().out
    for number, _quarter, _room in CALLERS:
        assert _callable_with_a_whole_call(_booking_now(number)), number
    # The kiosk of Julien Moreau's room, activated with the credential the demo printed.
    credential = re.search(r"Kiosk of QMA Visio 1 .* enter (\S+)", out).group(1)
    client.post("/kiosk/activer", {"credential": credential})
    client.post("/kiosk/", {"prison_number": "24001", "pin": "1234"})
    home = client.get("/kiosk/accueil").content.decode()
    assert 'name="booking"' in home and "Appeler" in home
    assert "24001 Julien Moreau (QMA Visio 1): can call Sophie Moreau until" in out


def _shift(booking, minutes: int) -> None:
    """The booking as it would be ``minutes`` later: its start and end that much earlier."""
    from datetime import timedelta

    from bookings.models import Booking

    Booking.objects.filter(pk=booking.pk).update(
        starts_at=booking.starts_at - timedelta(minutes=minutes),
        ends_at=booking.ends_at - timedelta(minutes=minutes),
    )


def test_a_booking_running_out_is_replaced_by_one_with_a_whole_call(capsys):
    call_command("demo")
    old = _booking_now("24001")
    _shift(old, 45)  # 15 minutes left: not a whole call
    call_command("demo_bookings")
    old.refresh_from_db()
    assert old.status == "no_show"
    new = _booking_now("24001")
    assert new.pk != old.pk and _callable_with_a_whole_call(new)
    # The other callers kept theirs.
    assert "24002 Karim Benali (QMA Visio 2): can call until" in capsys.readouterr().out


def test_a_booking_whose_call_is_over_is_renewed_and_the_new_one_calls():
    from calls import actions

    call_command("demo")
    old = _booking_now("24001")
    call = actions.do_start_call(old, device_label="Borne QMA 1")
    actions.do_kiosk_hang_up(call, by="kiosk")  # cancelled at the kiosk: the call is over
    call_command("demo_bookings")
    new = _booking_now("24001")
    assert new.pk != old.pk
    assert actions.do_start_call(new, device_label="Borne QMA 1").is_open


def test_a_call_under_way_keeps_its_booking(capsys):
    from calls import actions

    call_command("demo")
    booking = _booking_now("24001")
    _shift(booking, 45)
    actions.do_start_call(booking, device_label="Borne QMA 1")
    call_command("demo_bookings")
    assert _booking_now("24001").pk == booking.pk
    assert "a call is under way" in capsys.readouterr().out


def test_a_later_booking_is_left_alone_and_the_new_one_ends_where_it_starts():
    from datetime import timedelta

    from bookings.models import Booking

    call_command("demo")
    old = _booking_now("24001")
    _shift(old, 45)
    old.refresh_from_db()
    later = Booking.objects.create(
        room=old.room,
        detainee=old.detainee,
        contact=old.contact,
        starts_at=old.ends_at + timedelta(minutes=25),
        ends_at=old.ends_at + timedelta(minutes=55),
        booked_via="kiosk",
    )
    call_command("demo_bookings")
    later.refresh_from_db()
    assert later.status == "booked"
    new = Booking.objects.filter(detainee=old.detainee, status="booked").order_by("starts_at")[0]
    assert new.pk not in (old.pk, later.pk)
    assert new.ends_at == later.starts_at and _callable_with_a_whole_call(new)


def test_the_run_scripts_if_empty_renews_the_bookings_of_a_loaded_demo():
    call_command("demo")
    old = _booking_now("24011")
    _shift(old, 50)
    call_command("demo", "--if-empty")
    assert _callable_with_a_whole_call(_booking_now("24011"))


def test_after_a_call_that_took_place_the_next_run_gives_another():
    from calls import actions

    call_command("demo")
    old = _booking_now("24001")
    call = actions.do_start_call(old, device_label="Borne QMA 1")
    for kind in ("terms", "privacy", "monitoring"):
        actions.do_record_consent(
            call, kind, accepted=True, client_ip="10.0.0.1", user_agent="test", language="fr"
        )
    actions.do_relative_waiting(call)
    for role in ("kiosk", "relative"):
        actions.do_join(call, role)
        actions.do_mark_media_up(call, role)
    actions.do_end_call(call, "hung_up_relative", by="relative")
    old.refresh_from_db()
    assert old.status == "completed"
    call_command("demo_bookings")
    new = _booking_now("24001")
    assert _callable_with_a_whole_call(new)
    old.refresh_from_db()
    # The completed booking gave its remaining time back, and says so in the audit log.
    assert old.status == "completed" and old.ends_at == new.starts_at
    assert AuditEvent.objects.filter(action="booking.released").exists()
    assert verify() is None
