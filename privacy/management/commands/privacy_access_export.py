from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from establishments.models import Establishment
from privacy import package


class Command(BaseCommand):
    help = (
        "The right of access: write every piece of data held about one relative (by phone "
        "number) or one detainee (by prison number) as JSON and as text. Audited."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--relative", metavar="PHONE", help="E.164 number, e.g. +33612345678")
        who.add_argument("--detainee", metavar="PRISON_NUMBER")
        parser.add_argument("--establishment", help="Only this establishment (its code).")
        parser.add_argument("--out", default=".", help="Folder to write the two files to.")
        parser.add_argument(
            "--by", default="command", help="Who asked, for the audit (a name or a reference)."
        )

    def handle(self, *args, **options):
        scope = None
        if options["establishment"]:
            est = Establishment.objects.filter(code=options["establishment"]).first()
            if est is None:
                raise CommandError(f"No establishment with the code {options['establishment']!r}")
            scope = {est.pk}
        kind = "relative" if options["relative"] else "detainee"
        identifier = options["relative"] or options["detainee"]
        made = package.export(
            kind, identifier, establishment_ids=scope, actor_label=f"command:{options['by']}"
        )
        if not made.rows:
            raise CommandError("Nothing is held about this number.")
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"acces-{kind}-{timezone.now():%Y%m%d-%H%M%S}"
        stem.with_suffix(".json").write_bytes(made.json_bytes())
        stem.with_suffix(".txt").write_text(made.text())
        self.stdout.write(f"{made.rows} rows in {len(made.tables)} tables: {stem}.json, {stem}.txt")
