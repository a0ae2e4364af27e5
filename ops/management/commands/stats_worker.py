from django.core.management.base import BaseCommand

from ops import exporter, rollup


class Command(BaseCommand):
    help = (
        "Add up each establishment's days for the console's statistics (loops); the first "
        "pass counts every day since the first booking."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")

    def handle(self, *args, **options):
        if not options["once"]:
            exporter.serve()
        rollup.run(once=options["once"])
