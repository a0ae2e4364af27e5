import json
from datetime import datetime, time, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from establishments.models import Establishment
from recordings import retention


def _day(value: str | None, *, after: bool = False) -> datetime | None:
    """Midnight (the server's time zone) at the start of that day, or of the next one."""
    if not value:
        return None
    day = parse_date(value)
    if day is None:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value}")
    if after:
        day += timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, time.min))


class Command(BaseCommand):
    help = "Write the destruction log as a signed JSON report (Ed25519)."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="First day (YYYY-MM-DD), included.")
        parser.add_argument("--until", help="Last day (YYYY-MM-DD), included.")
        parser.add_argument("--establishment", action="append", help="Establishment code.")
        parser.add_argument("--out", type=Path, help="File to write (default: standard output).")

    def handle(self, *args, **options):
        ids = None
        if options["establishment"]:
            found = dict(
                Establishment.objects.filter(code__in=options["establishment"]).values_list(
                    "code", "pk"
                )
            )
            unknown = set(options["establishment"]) - set(found)
            if unknown:
                raise CommandError(f"Unknown establishment code(s): {sorted(unknown)}")
            ids = set(found.values())
        document = retention.destruction_report(
            start=_day(options["since"]),
            end=_day(options["until"], after=True),
            establishment_ids=ids,
            generated_by="command:recordings_destruction_report",
        )
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if options["out"]:
            options["out"].write_text(text)
            self.stderr.write(f"{document['report']['count']} destruction(s) -> {options['out']}")
        else:
            self.stdout.write(text)
