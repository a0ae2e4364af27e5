from django.core.management.base import BaseCommand

from recordings import crypto


class Command(BaseCommand):
    help = (
        "Print the public key that media hosts seal recording sources for "
        "(PARLOIR_RECORDING_PUBLIC_KEY on each media host; docs/deployment.md). It follows "
        "the recording master key: print it again after a rotation."
    )

    def handle(self, *args, **options):
        self.stdout.write(crypto.source_public_key_b64())
