import asyncio

from django.core.management.base import BaseCommand

from calls import worker
from ops import exporter


class Command(BaseCommand):
    help = "End calls at their deadline and destroy the rooms of ended calls (loops)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")

    def handle(self, *args, **options):
        if not options["once"]:
            exporter.serve()
        asyncio.run(worker.run(once=options["once"]))
