from django.core.management.base import BaseCommand, CommandError

from audit.log import last_anchored_seq, verify
from audit.models import AuditEvent
from ops.collector import write_audit_state


class Command(BaseCommand):
    help = (
        "Check the audit log's keyed chain and its anchors outside the database; exits "
        "non-zero naming the first bad row."
    )

    def handle(self, *args, **options):
        breach = verify()
        rows = AuditEvent.objects.count()
        # Read by this host's /metrics: an alert says the chain broke, or was not checked.
        write_audit_state(ok=breach is None, rows=rows, broken_at=breach and breach.seq)
        if breach is not None:
            raise CommandError(f"Audit chain broken at row #{breach.seq}: {breach.problem}")
        anchored = last_anchored_seq()
        self.stdout.write(f"Audit chain intact: {rows} rows, anchored up to #{anchored}.")
        if rows and not anchored:
            self.stderr.write(
                "No anchor found (PARLOIR_AUDIT_ANCHOR_FILE): a cut tail could not be seen. "
                "Run `manage.py audit_anchor`, and check that the file is kept."
            )
