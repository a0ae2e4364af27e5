import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recordings import crypto, fileformat, retention


class Command(BaseCommand):
    help = "Check a signed destruction report (by default against this site's signing key)."

    def add_arguments(self, parser):
        parser.add_argument("report", type=Path)
        parser.add_argument(
            "--public-key",
            help="The trusted public key (base64); default: this installation's.",
        )

    def handle(self, *args, **options):
        try:
            document = json.loads(options["report"].read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the report: {exc}")
        trusted = options["public_key"] or crypto.public_key_b64()
        if not retention.verify_report(document, trusted):
            raise CommandError("INVALID: the report was changed or signed by another key.")
        count = document["report"]["count"]
        self.stdout.write(
            f"Valid: {count} destruction(s), signed by {fileformat.fingerprint(trusted)}."
        )
