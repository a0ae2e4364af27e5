from django.core.management.base import BaseCommand

from audit.log import anchor_head


class Command(BaseCommand):
    help = (
        "Append the audit chain's current head to the anchor file (and syslog): for a "
        "timer, and once after an upgrade."
    )

    def handle(self, *args, **options):
        seq = anchor_head()
        self.stdout.write(f"Anchored the audit head at #{seq}." if seq else "No audit row yet.")
