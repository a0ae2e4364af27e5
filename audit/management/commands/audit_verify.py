from django.core.management.base import BaseCommand, CommandError

from audit.log import verify
from audit.models import AuditEvent


class Command(BaseCommand):
    help = "Check the audit log's hash chain; exits non-zero naming the first bad row."

    def handle(self, *args, **options):
        breach = verify()
        if breach is not None:
            raise CommandError(f"Audit chain broken at row #{breach.seq}: {breach.problem}")
        self.stdout.write(f"Audit chain intact: {AuditEvent.objects.count()} rows.")
