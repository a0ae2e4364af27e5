"""Issue #17, finding 4: someone who can write to the database cannot rewrite the audit
trail unseen, even after recomputing every hash, since the seals need a key the database
does not hold and the head is anchored outside it."""

import hashlib

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit import log
from audit.log import _canonical, record, verify
from audit.models import AuditEvent, AuditHead
from tests.factories import EstablishmentFactory, StaffFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _write(n: int = 5) -> None:
    actor = StaffFactory()
    establishment = EstablishmentFactory()
    for i in range(n):
        # Each in its own transaction, as in real use: each head is anchored on commit.
        with transaction.atomic():
            record("test.event", actor=actor, establishment=establishment, data={"n": i})


def _reseal_everything(forge) -> None:
    """The attacker's rewrite: the rows they want, then every seal recomputed in order
    (with plain SHA-256, as the chain used to be, having no key), and the head set to
    match. ``forge`` edits the list of rows before the rewrite."""
    rows = list(AuditEvent.objects.order_by("seq"))
    rows = forge(rows)
    prev = "0" * 64
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")
        for seq, row in enumerate(rows, start=1):
            row.seq = seq
            row.prev_hash = prev
            row.hash = hashlib.sha256(_canonical(row)).hexdigest()
            cursor.execute(
                "INSERT INTO audit_auditevent (seq, at, actor_id, actor_label, establishment_id,"
                " action, target_type, target_id, data, prev_hash, hash, key_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    row.seq,
                    row.at,
                    row.actor_id,
                    row.actor_label,
                    row.establishment_id,
                    row.action,
                    row.target_type,
                    row.target_id,
                    __import__("json").dumps(row.data),
                    row.prev_hash,
                    row.hash,
                    row.key_id,
                ],
            )
            prev = row.hash
        cursor.execute("UPDATE audit_audithead SET seq = %s, hash = %s", [len(rows), prev])


def _breach_names(seq: int) -> None:
    with pytest.raises(CommandError, match=rf"row #{seq}\b"):
        call_command("audit_verify")


def test_an_intact_chain_passes_and_is_anchored_outside_the_database(capsys, settings):
    _write()
    call_command("audit_verify")
    assert "intact: 5 rows, anchored up to #5" in capsys.readouterr().out
    lines = settings.AUDIT_ANCHOR_FILE.read_text().splitlines()
    assert [int(line.split()[0]) for line in lines] == [1, 2, 3, 4, 5]
    # Rows are sealed with a key (an HMAC), not a plain hash anyone can recompute.
    row = AuditEvent.objects.get(seq=3)
    assert row.hash != hashlib.sha256(_canonical(row)).hexdigest()


def test_it_detects_an_edited_row_even_with_every_hash_recomputed():
    _write()

    def edit(rows):
        rows[2].data = {"n": 99}
        return rows

    _reseal_everything(edit)
    _breach_names(1)  # the very first row's seal is not the key's


def test_it_detects_an_edited_row_resealed_with_a_guessed_key(settings):
    _write()
    settings.AUDIT_KEY = "the attacker's guess"
    row = AuditEvent.objects.get(seq=3)
    row.data = {"n": 99}
    guessed = log.compute_hash(row, log.current_key()[1])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET data = %s, hash = %s WHERE seq = 3", ['{"n": 99}', guessed]
        )
    settings.AUDIT_KEY = "test-only-parloir_audit_key"
    _breach_names(3)


def test_it_detects_a_deleted_row_even_with_the_rest_renumbered_and_resealed():
    _write()
    _reseal_everything(lambda rows: rows[:2] + rows[3:])
    with pytest.raises(CommandError):
        call_command("audit_verify")
    assert verify() is not None


def test_it_detects_a_reordered_pair_even_with_every_hash_recomputed():
    _write()

    def swap(rows):
        rows[1], rows[2] = rows[2], rows[1]
        return rows

    _reseal_everything(swap)
    assert verify() is not None


def test_it_detects_a_reordered_pair_with_the_seals_kept():
    _write()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET seq = 1000 WHERE seq = 2")
        cursor.execute("UPDATE audit_auditevent SET seq = 2 WHERE seq = 3")
        cursor.execute("UPDATE audit_auditevent SET seq = 3 WHERE seq = 1000")
    _breach_names(2)


def test_it_detects_a_truncated_tail_with_the_head_set_back():
    """The one rewrite that needs no seal: delete the last rows and point the head at the
    new last one. Only the anchors outside the database can tell."""
    _write()
    last_kept = AuditEvent.objects.get(seq=3)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq > 3")
        cursor.execute("UPDATE audit_audithead SET seq = 3, hash = %s", [last_kept.hash])
    with pytest.raises(CommandError, match="tail was cut"):
        call_command("audit_verify")


def test_it_refuses_an_anchor_line_written_by_hand(settings):
    _write(2)
    with settings.AUDIT_ANCHOR_FILE.open("a") as anchors:
        anchors.write(f"3 {'ab' * 32} {'cd' * 32}\n")
    with pytest.raises(CommandError, match="not sealed"):
        call_command("audit_verify")


def test_rows_sealed_with_a_former_key_still_verify(settings):
    _write(2)
    settings.AUDIT_OLD_KEYS = settings.AUDIT_KEY
    settings.AUDIT_KEY = "the new audit key"
    _write(2)
    assert verify() is None
    assert AuditHead.objects.get().seq == 4
    settings.AUDIT_OLD_KEYS = ""
    assert verify() is not None
