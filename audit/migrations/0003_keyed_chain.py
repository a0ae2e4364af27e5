"""Seal the audit chain with the audit key (PARLOIR_AUDIT_KEY).

Rows written before were chained with plain SHA-256, which anyone able to write to the
database could recompute. If that chain is intact, it is sealed anew under the key, row
by row, and the head follows; if it is not, nothing is rewritten (that would hide the
breach) and `audit_verify` goes on reporting it.
"""

import hashlib
import json

from django.db import migrations, models


def _canonical(row) -> bytes:
    payload = {
        "seq": row.seq,
        "at": row.at.isoformat(),
        "actor": row.actor_id,
        "actor_label": row.actor_label,
        "establishment": row.establishment_id,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "data": row.data,
        "prev": row.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal_with_the_key(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditHead = apps.get_model("audit", "AuditHead")
    rows = list(AuditEvent.objects.order_by("seq"))
    if not rows:
        return
    prev = "0" * 64
    for n, row in enumerate(rows, start=1):
        if row.seq != n or row.prev_hash != prev or hashlib.sha256(_canonical(row)).hexdigest() != row.hash:
            print(f"\n  audit: the unkeyed chain is broken at row #{n}; it is left as it is.")
            return
        prev = row.hash
    head = AuditHead.objects.filter(id=1).first()
    if head is None or head.seq != rows[-1].seq or head.hash != prev:
        print("\n  audit: the unkeyed chain's head does not match its last row; left as it is.")
        return

    from audit.log import current_key

    kid, key = current_key()
    import hmac

    prev = "0" * 64
    for row in rows:
        row.prev_hash = prev
        row.key_id = kid
        row.hash = hmac.new(key, _canonical(row), hashlib.sha256).hexdigest()
        AuditEvent.objects.filter(pk=row.pk).update(prev_hash=row.prev_hash, key_id=kid, hash=row.hash)
        prev = row.hash
    AuditHead.objects.filter(id=1).update(hash=prev)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, editable=False, max_length=16),
        ),
        migrations.RunPython(seal_with_the_key, migrations.RunPython.noop),
    ]
