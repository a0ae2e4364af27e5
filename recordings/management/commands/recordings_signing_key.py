from django.core.management.base import BaseCommand

from recordings import crypto, fileformat


class Command(BaseCommand):
    help = (
        "Print the public key that signs destruction reports and export manifests, to "
        "publish to whoever must check them."
    )

    def handle(self, *args, **options):
        public = crypto.public_key_b64()
        self.stdout.write(f"Ed25519 public key (base64): {public}")
        self.stdout.write(f"Fingerprint: {fileformat.fingerprint(public)}")
