from django.core.management.base import BaseCommand, CommandError

from recordings import jobs
from recordings.models import Recording


class Command(BaseCommand):
    help = "Queue a failed recording again (e.g. once its media node's disk is back)."

    def add_arguments(self, parser):
        parser.add_argument("recording", type=int)

    def handle(self, *args, **options):
        try:
            recording = Recording.objects.get(pk=options["recording"])
        except Recording.DoesNotExist:
            raise CommandError("No such recording")
        if not jobs.retry(recording):
            raise CommandError(f"Recording {recording.pk} is {recording.state}, not failed")
        self.stdout.write(f"Recording {recording.pk} queued again.")
