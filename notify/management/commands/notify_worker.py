import asyncio

from django.core.management.base import BaseCommand

from notify import worker
from ops import exporter


class Command(BaseCommand):
    help = "Deliver queued SMS and voice calls through the configured gateways (loops)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="One pass and its sends, then exit."
        )

    def handle(self, *args, **options):
        if not options["once"]:
            exporter.serve()
        asyncio.run(worker.run(once=options["once"]))
