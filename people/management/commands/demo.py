"""Build (or complete) the demo: the Centre pénitentiaire de Nantes from the seed documents.

Idempotent: every object is looked up by a stable key first, so running it twice
changes nothing and running it after an upgrade only adds what is new.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from establishments.models import Establishment, Quarter, VideoRoom
from parloir import env
from people import actions
from people.models import AuthorizedContact, Detainee, PhoneAccount, Role, StaffUser

NANTES = {
    "code": "cp-nantes",
    "name": "Centre pénitentiaire de Nantes",
    "address": "68 boulevard Albert Einstein, 44300 Nantes",
    "contact_phone": "+33251421100",
    "contact_hours": "Du lundi au vendredi, de 9 h à 12 h et de 14 h à 17 h",
    "contact_address": "68 boulevard Albert Einstein, 44300 Nantes",
    "contact_email": "cp-nantes@justice.example",
    "call_minutes": 30,
}

QUARTERS = [
    ("QMA", "Quartier maison d'arrêt", Quarter.Kind.MAISON_ARRET),
    ("QCD", "Quartier centre de détention", Quarter.Kind.CENTRE_DETENTION),
    ("QSL", "Quartier de semi-liberté", Quarter.Kind.SEMI_LIBERTE),
]

ROOMS = {"QMA": ["Visio 1", "Visio 2"], "QCD": ["Visio 1"], "QSL": ["Visio 1"]}

# (prison number, last name, first name, quarter, PIN, contacts)
# contacts: (first, last, phone, relationship, language, status)
DETAINEES = [
    (
        "24001",
        "Moreau",
        "Julien",
        "QMA",
        "1234",
        [
            ("Sophie", "Moreau", "06 12 34 56 01", "spouse", "fr", "approved"),
            ("Claire", "Moreau", "02 40 12 34 01", "parent", "fr", "approved"),
        ],
    ),
    (
        "24002",
        "Benali",
        "Karim",
        "QMA",
        "2345",
        [
            ("Amina", "Benali", "06 12 34 56 02", "parent", "ar", "approved"),
            ("Yacine", "Benali", "07 81 23 45 02", "sibling", "fr", "requested"),
        ],
    ),
    (
        "24003",
        "Da Silva",
        "Pedro",
        "QMA",
        "3456",
        [
            ("Maria", "Da Silva", "+351 912 345 603", "spouse", "pt", "approved"),
        ],
    ),
    (
        "24004",
        "Popescu",
        "Andrei",
        "QMA",
        "4567",
        [
            ("Elena", "Popescu", "06 12 34 56 04", "spouse", "ro", "approved"),
        ],
    ),
    (
        "24005",
        "Lefebvre",
        "Thomas",
        "QMA",
        "5678",
        [
            ("Nathalie", "Lefebvre", "02 51 12 34 05", "parent", "fr", "approved"),
        ],
    ),
    (
        "24006",
        "Garcia",
        "Luis",
        "QMA",
        "6789",
        [
            ("Carmen", "Garcia", "06 12 34 56 06", "parent", "es", "approved"),
            ("Inconnu", "Garcia", "06 12 34 56 66", "friend", "es", "refused"),
        ],
    ),
    (
        "24007",
        "Nguyen",
        "Minh",
        "QCD",
        "7890",
        [
            ("Lan", "Nguyen", "06 12 34 56 07", "spouse", "fr", "approved"),
        ],
    ),
    (
        "24008",
        "Yilmaz",
        "Mehmet",
        "QCD",
        "8901",
        [
            ("Ayşe", "Yilmaz", "06 12 34 56 08", "spouse", "tr", "approved"),
        ],
    ),
    (
        "24009",
        "Petit",
        "Nicolas",
        "QCD",
        "9012",
        [
            ("Julie", "Petit", "06 12 34 56 09", "spouse", "fr", "approved"),
            ("Léa", "Petit", "06 12 34 56 19", "child", "fr", "approved"),
        ],
    ),
    (
        "24010",
        "Rossi",
        "Marco",
        "QCD",
        "0123",
        [
            ("Giulia", "Rossi", "+39 312 345 6710", "spouse", "it", "approved"),
        ],
    ),
    (
        "24011",
        "Ivanov",
        "Sergei",
        "QSL",
        "1357",
        [
            ("Olga", "Ivanova", "06 12 34 56 11", "spouse", "ru", "approved"),
        ],
    ),
    (
        "24012",
        "Bernard",
        "Lucas",
        "QSL",
        "2468",
        [
            ("Martine", "Bernard", "09 51 23 45 12", "parent", "fr", "approved"),
        ],
    ),
]

STAFF = [
    ("admin", "national_admin", "Administrateur", "national"),
    ("directeur", "director", "Directeur", "Nantes"),
    ("officier", "supervisor", "Officier", "Nantes"),
    ("surveillant", "guard", "Surveillant", "Nantes"),
    ("reservation", "booking_officer", "Agent de réservation", "Nantes"),
    ("auditeur", "auditor", "Auditeur", "Nantes"),
]


class Command(BaseCommand):
    help = "Create the demo establishment, people and staff accounts (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help=(
                "Load nothing when any establishment exists, only renew the demo's bookings "
                "now (used by the run script)."
            ),
        )

    def handle(self, *args, **options):
        if options["if_empty"] and Establishment.objects.exists():
            self.stdout.write("Database not empty: demo not loaded.")
            # Its bookings still are renewed: every run leaves callable bookings.
            call_command("demo_bookings", stdout=self.stdout)
            return
        password = env.get("PARLOIR_DEMO_PASSWORD", "parloir-demo")
        with transaction.atomic():
            establishment = self._establishment()
            admin = self._staff(establishment, password)
            self._people(establishment, admin)
            self._extend(establishment, admin)
        self._print_summary(password)

    def _establishment(self) -> Establishment:
        establishment, _ = Establishment.objects.get_or_create(
            code=NANTES["code"], defaults={k: v for k, v in NANTES.items() if k != "code"}
        )
        for code, name, kind in QUARTERS:
            quarter, _ = Quarter.objects.get_or_create(
                establishment=establishment,
                code=code,
                defaults={
                    "name": name,
                    "kind": kind,
                    "address": "19 rue de la Mairie, 44300 Nantes",
                    "phone": "+33251421100",
                },
            )
            for room_name in ROOMS[code]:
                VideoRoom.objects.get_or_create(quarter=quarter, name=room_name)
        return establishment

    def _staff(self, establishment: Establishment, password: str) -> StaffUser:
        users = {}
        for username, _role, first_name, _scope in STAFF:
            user, created = StaffUser.objects.get_or_create(
                username=username, defaults={"first_name": first_name, "is_staff": True}
            )
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])
            users[username] = user
        admin = users["admin"]
        for username, role, _first, scope in STAFF:
            where = None if scope == "national" else establishment
            if not Role.objects.filter(
                user=users[username], name=role, establishment=where
            ).exists():
                actions.do_grant_role(users[username], role, where, actor=None)
        return admin

    def _people(self, establishment: Establishment, admin: StaffUser) -> None:
        quarters = {q.code: q for q in establishment.quarters.all()}
        for number, last, first, quarter_code, pin, contacts in DETAINEES:
            detainee, _ = Detainee.objects.get_or_create(
                establishment=establishment,
                prison_number=number,
                defaults={
                    "last_name": last,
                    "first_name": first,
                    "quarter": quarters[quarter_code],
                },
            )
            if not PhoneAccount.objects.filter(detainee=detainee).exists():
                account = actions.do_open_account(detainee, pin, actor=admin)
                actions.do_post_ledger(account, 2000, "credit", "Crédit initial", actor=admin)
            for c_first, c_last, phone, relationship, language, status in contacts:
                self._contact(
                    detainee, admin, c_first, c_last, phone, relationship, language, status
                )

    def _contact(self, detainee, admin, first, last, phone, relationship, language, status):
        from people.phones import parse_phone

        e164 = parse_phone(phone).e164
        if AuthorizedContact.objects.filter(detainee=detainee, phone_number=e164).exists():
            return
        contact = actions.do_request_contact(
            detainee,
            first_name=first,
            last_name=last,
            phone=phone,
            relationship=relationship,
            language=language,
            actor=admin,
        )
        if status != "requested":
            reasons = {
                "approved": "Lien familial justifié (livret de famille).",
                "refused": "Lien non justifié.",
            }
            actions.do_decide_contact(contact, status, reason=reasons[status], actor=admin)

    def _extend(self, establishment: Establishment, admin: StaffUser) -> None:
        """Demo data of later layers (booking rules, media nodes, kiosks, bookings now)."""
        from parloir.demo_extensions import extend

        extend(self, establishment, admin)

    def _print_summary(self, password: str) -> None:
        self.stdout.write(self.style.SUCCESS("Demo ready: Centre pénitentiaire de Nantes."))
        self.stdout.write("Staff sign-in at /admin/ and /console/, password for every account:")
        self.stdout.write(f"  {password}  (set PARLOIR_DEMO_PASSWORD to choose another)")
        for username, _role, first_name, scope in STAFF:
            self.stdout.write(f"  {username:<12} {first_name} ({scope})")
        self.stdout.write("Detainees (prison number / PIN) for the kiosk:")
        for number, last, first, quarter, pin, _contacts in DETAINEES:
            self.stdout.write(f"  {number} / {pin}  {first} {last} ({quarter})")
        self.stdout.write(
            "Another booking now, once these are over: ./scripts/manage demo_bookings"
        )
