import json

from django.core.management.base import BaseCommand, CommandError

from establishments.models import Establishment
from privacy import purge


class Command(BaseCommand):
    help = (
        "Delete or anonymise the personal data past its retention (docs/privacy.md). "
        "Dry run by default: says what --apply would do and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--apply", action="store_true", help="Do it (logged and audited).")
        parser.add_argument("--establishment", help="Only this establishment (its code).")
        parser.add_argument("--json", action="store_true", help="The report as JSON.")

    def handle(self, *args, **options):
        establishment = None
        if options["establishment"]:
            establishment = Establishment.objects.filter(code=options["establishment"]).first()
            if establishment is None:
                raise CommandError(f"No establishment with the code {options['establishment']!r}")
        report = purge.purge(apply=options["apply"], establishment=establishment)
        codes = dict(Establishment.objects.values_list("pk", "code"))
        rows = [
            {
                "category": line.category,
                "action": line.action,
                "establishment": codes.get(line.establishment_id, "*"),
                "count": line.count,
                "held": line.held,
                "cutoff": line.cutoff.isoformat(),
                "retention_days": line.retention_days,
            }
            for line in report.lines
        ]
        if options["json"]:
            document = {"run": str(report.run), "applied": report.applied, "lines": rows}
            self.stdout.write(json.dumps(document, indent=2))
            return
        verb = "Done" if report.applied else "Dry run (nothing changed; --apply to do it)"
        self.stdout.write(f"{verb}: privacy purge {report.run}")
        for row in rows:
            held = f", {row['held']} kept by a hold" if row["held"] else ""
            self.stdout.write(
                f"  {row['establishment']:<16} {row['category']:<14} {row['action']:<10} "
                f"{row['count']:>6}  (older than {row['cutoff'][:10]}{held})"
            )
