from django.core.management.base import BaseCommand

from ops import exporter
from recordings import worker


class Command(BaseCommand):
    help = (
        "Make encrypted recordings of finished calls and destroy them when their retention "
        "ends (loops)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")

    def handle(self, *args, **options):
        if not options["once"]:
            exporter.serve()
        worker.run(once=options["once"])
