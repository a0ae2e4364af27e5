from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from media import health
from ops import exporter


class Command(BaseCommand):
    help = (
        "Ping every media node's Janus admin API each second and keep its state "
        "(up/down/draining) and load in the database. Runs until stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")
        parser.add_argument("--interval", type=float, default=health.INTERVAL)
        parser.add_argument("--timeout", type=float, default=health.PROBE_TIMEOUT)
        parser.add_argument(
            "--down-after",
            type=float,
            default=None,
            help="Seconds without an answer before a node is down "
            f"(default PARLOIR_MEDIA_DOWN_AFTER_SECONDS={settings.MEDIA_DOWN_AFTER_SECONDS}).",
        )

    def handle(self, *args: object, **options: object) -> None:
        timeout = float(options["timeout"])  # type: ignore[arg-type]
        down_after = options["down_after"]
        if options["once"]:
            changes = health.check_once(timeout=timeout, down_after=down_after)  # type: ignore[arg-type]
            for name, state in sorted(changes.items()):
                self.stdout.write(f"{name}: {state}")
            return
        exporter.serve()
        health.run(
            interval=float(options["interval"]),  # type: ignore[arg-type]
            timeout=timeout,
            down_after=down_after,  # type: ignore[arg-type]
        )
