from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recordings import export
from recordings.models import Recording


class Command(BaseCommand):
    help = (
        "Make an encrypted package of one recording for a judicial authority (audited; "
        "places a judicial hold with the same reference)."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--recording", type=int, help="Recording id.")
        which.add_argument("--call", type=int, help="Call id.")
        parser.add_argument("--authority", required=True, help="Who receives it.")
        parser.add_argument("--reference", required=True, help="The requisition's reference.")
        parser.add_argument("--out", type=Path, required=True, help="Where to write the .zip.")
        parser.add_argument(
            "--passphrase-file",
            type=Path,
            help="Read the passphrase from this file (otherwise one is generated and printed).",
        )

    def handle(self, *args, **options):
        lookup = (
            {"pk": options["recording"]} if options["recording"] else {"call_id": options["call"]}
        )
        try:
            recording = Recording.objects.get(**lookup)
        except Recording.DoesNotExist:
            raise CommandError("No such recording")
        passphrase = None
        if options["passphrase_file"]:
            passphrase = options["passphrase_file"].read_text().strip()
        made = export.make_package(
            recording,
            authority=options["authority"],
            reference=options["reference"],
            passphrase=passphrase,
            out=options["out"],
            actor_label="command:recordings_export",
        )
        self.stdout.write(f"Package: {made.path} ({made.export.size} bytes)")
        self.stdout.write(f"SHA-256: {made.export.sha256}")
        if passphrase is None:
            self.stdout.write(f"Passphrase (send it separately): {made.passphrase}")
