import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.log import record, verify
from audit.models import AuditEvent
from tests.factories import EstablishmentFactory, StaffFactory

pytestmark = pytest.mark.django_db


def _write_three():
    actor = StaffFactory()
    establishment = EstablishmentFactory()
    for n in range(3):
        record("test.event", actor=actor, establishment=establishment, data={"n": n})


def test_it_chains_each_row_to_the_previous_one():
    _write_three()
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == "0" * 64
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert verify() is None


def test_it_passes_audit_verify_on_an_intact_chain(capsys):
    _write_three()
    call_command("audit_verify")
    assert "intact: 3 rows" in capsys.readouterr().out


def test_it_names_the_first_edited_row():
    _write_three()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET data = %s WHERE seq = 2", ['{"n": 99}'])
    with pytest.raises(CommandError, match="row #2"):
        call_command("audit_verify")


def test_it_detects_a_deleted_row_in_the_middle():
    _write_three()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 2")
    with pytest.raises(CommandError, match="row #2"):
        call_command("audit_verify")


def test_it_detects_a_deleted_last_row():
    _write_three()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 3")
    with pytest.raises(CommandError, match="row #3"):
        call_command("audit_verify")


def test_it_refuses_updates_and_deletes_through_the_orm():
    _write_three()
    event = AuditEvent.objects.first()
    event.action = "rewritten"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()


def test_it_refuses_direct_creation_outside_record():
    with pytest.raises(ValueError):
        AuditEvent.objects.create(seq=1, action="forged", prev_hash="0" * 64, hash="x")
