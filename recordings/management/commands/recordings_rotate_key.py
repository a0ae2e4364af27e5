from django.core.management.base import BaseCommand

from recordings import crypto, keys


class Command(BaseCommand):
    help = (
        "Re-wrap every recording key with the current master key (the media files are not "
        "touched). Put the former key in PARLOIR_RECORDING_OLD_MASTER_KEYS first; remove it "
        "once this reports nothing left under it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count.")

    def handle(self, *args, **options):
        result = keys.rotate(dry_run=options["dry_run"])
        verb = "would be re-wrapped" if options["dry_run"] else "re-wrapped"
        self.stdout.write(f"Current master key: {result.to_key}")
        self.stdout.write(f"{result.already_current} key(s) already under it.")
        for key_id, count in sorted(result.rewrapped.items()):
            self.stdout.write(f"{count} key(s) {verb} from {key_id}.")
        for key_id, count in sorted(result.missing.items()):
            self.stderr.write(
                f"{count} key(s) under {key_id}, which is not configured: "
                "add it to PARLOIR_RECORDING_OLD_MASTER_KEYS and run this again."
            )
        left = {k: v for k, v in keys.census().items() if k != crypto.keyring().current.id}
        if not left:
            self.stdout.write("No recording depends on a former master key any more.")
