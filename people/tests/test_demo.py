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
