from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from establishments.models import Establishment
from recordings import retention


class Command(BaseCommand):
    help = (
        "List the recordings whose retention is over (a dry run); with --execute, destroy "
        "them, each in the destruction log and the audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("--execute", action="store_true", help="Really destroy them.")
        parser.add_argument("--establishment", help="Only this establishment (its code).")

    def handle(self, *args, **options):
        establishment_id = None
        if options["establishment"]:
            try:
                establishment_id = Establishment.objects.get(code=options["establishment"]).pk
            except Establishment.DoesNotExist:
                raise CommandError(f"No establishment with code {options['establishment']!r}")
        report = retention.purge(
            execute=options["execute"],
            establishment_id=establishment_id,
            actor_label="command:recordings_purge",
        )
        now = timezone.now()
        for recording in report.due:
            late = now - recording.retention_until
            self.stdout.write(
                f"recording {recording.pk} call {recording.call_id} {recording.state} "
                f"retention ended {recording.retention_until:%Y-%m-%d %H:%M} "
                f"({late.days} d ago)"
            )
        if options["execute"]:
            self.stdout.write(f"{len(report.destroyed)} recording(s) destroyed.")
        else:
            self.stdout.write(
                f"{len(report.due)} recording(s) due. Dry run: nothing destroyed "
                "(add --execute to destroy them)."
            )
