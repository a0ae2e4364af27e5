"""Give the demo's callers a booking they can call from now (./scripts/manage demo_bookings).

A demo booking lasts an hour; after that, or once its call is over, this gives another.
./scripts/run does it at every start.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from establishments.models import Establishment
from parloir.demo_extensions import CALLERS, renew_bookings_now
from people.management.commands.demo import NANTES
from people.models import StaffUser


class Command(BaseCommand):
    help = "Give the demo's callers a booking they can call from now."

    def handle(self, *args, **options):
        establishment = Establishment.objects.filter(code=NANTES["code"]).first()
        admin = StaffUser.objects.filter(username="admin").first()
        if establishment is None or admin is None:
            self.stdout.write("No demo here: `manage.py demo` loads it.")
            return
        self.stdout.write(
            f"Bookings now at the demo's kiosks ({len(CALLERS)} rooms; /kiosk/, prison "
            "number and PIN):"
        )
        with transaction.atomic():
            renew_bookings_now(self, establishment, admin)
