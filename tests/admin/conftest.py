"""Two establishments, Alpha (A) and Bravo (B), each with one of everything and a staff member
per role, plus a national administrator. Everything of B says "Bravo" somewhere, so a page
that shows any of B's data can be caught by looking for the word.
"""

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from establishments.models import Establishment, KioskDevice, Quarter, VideoRoom
from notify.actions import do_send_message
from notify.models import Message
from people.actions import (
    do_decide_contact,
    do_grant_role,
    do_post_ledger,
    do_request_contact,
    do_suspend,
)
from people.models import (
    AuthorizedContact,
    Detainee,
    PhoneAccount,
    Role,
    StaffUser,
    Suspension,
)
from tests.factories import (
    DetaineeFactory,
    EstablishmentFactory,
    KioskDeviceFactory,
    PhoneAccountFactory,
    QuarterFactory,
    StaffFactory,
    VideoRoomFactory,
    sign_in,
    staff_with_role,
)

ESTABLISHMENT_ROLES = ["director", "supervisor", "guard", "booking_officer", "auditor"]


@dataclass
class Site:
    establishment: Establishment
    quarter: Quarter
    room: VideoRoom
    kiosk: KioskDevice
    detainee: Detainee
    newcomer: Detainee  # no phone account yet
    account: PhoneAccount
    contact: AuthorizedContact  # approved
    requested: AuthorizedContact
    suspension: Suspension
    message: Message
    staff: dict[str, StaffUser] = field(default_factory=dict)
    # Strings found only in this site's data.
    markers: tuple[str, ...] = ()

    def objects(self) -> dict[type, object]:
        """One row of this site per model, for the tests that go model by model."""
        return {
            Establishment: self.establishment,
            Quarter: self.quarter,
            VideoRoom: self.room,
            KioskDevice: self.kiosk,
            Detainee: self.detainee,
            PhoneAccount: self.account,
            AuthorizedContact: self.requested,
            Suspension: self.suspension,
            StaffUser: self.staff["guard"],
            Role: self.staff["guard"].roles.get(),
            AuditEvent: AuditEvent.objects.filter(establishment=self.establishment).first(),
            Message: self.message,
        }


def build_site(tag: str, phone_prefix: str) -> Site:
    establishment = EstablishmentFactory(name=f"Centre pénitentiaire {tag}", code=f"cp-{tag}")
    quarter = QuarterFactory(establishment=establishment, code=f"{tag}-MA", name=f"MA {tag}")
    room = VideoRoomFactory(quarter=quarter, name=f"Salle {tag}")
    kiosk = KioskDeviceFactory(room=room, label=f"Borne {tag}")
    detainee = DetaineeFactory(
        quarter=quarter, last_name=f"Detenu{tag}", prison_number=f"{tag}-001"
    )
    newcomer = DetaineeFactory(
        quarter=quarter, last_name=f"Arrivant{tag}", prison_number=f"{tag}-002"
    )
    account = PhoneAccountFactory(detainee=detainee)
    staff = {
        role: staff_with_role(role, establishment, username=f"{tag.lower()}-{role}")
        for role in ESTABLISHMENT_ROLES
    }
    director = staff["director"]
    do_post_ledger(account, 1500, "credit", f"Mandat {tag}", actor=director)
    contact = do_request_contact(
        detainee,
        first_name="Amina",
        last_name=f"Proche{tag}",
        phone=f"{phone_prefix}01",
        relationship=AuthorizedContact.Relationship.SPOUSE,
        actor=director,
    )
    do_decide_contact(contact, "approved", reason=f"Lien vérifié {tag}", actor=director)
    requested = do_request_contact(
        detainee,
        first_name="Nadia",
        last_name=f"Demande{tag}",
        phone=f"{phone_prefix}02",
        relationship=AuthorizedContact.Relationship.PARENT,
        actor=director,
    )
    now = timezone.now()
    suspension = do_suspend(
        detainee,
        starts_at=now + timedelta(days=10),
        ends_at=now + timedelta(days=20),
        reason=f"Incident {tag}",
        actor=director,
    )
    message = do_send_message(contact, purpose=Message.Purpose.OTHER, text=f"Bonjour de {tag}")
    contact.refresh_from_db()
    return Site(
        establishment=establishment,
        quarter=quarter,
        room=room,
        kiosk=kiosk,
        detainee=detainee,
        newcomer=newcomer,
        account=account,
        contact=contact,
        requested=requested,
        suspension=suspension,
        message=message,
        staff=staff,
        markers=(tag.lower(), contact.phone_number, requested.phone_number),
    )


@dataclass
class World:
    a: Site
    b: Site
    national: StaffUser
    nobody: StaffUser  # staff flag, no role
    superuser: StaffUser  # superuser flag, no role


@pytest.fixture
def world(db) -> World:
    a = build_site("Alpha", "06 12 34 00 ")
    b = build_site("Bravo", "06 98 76 00 ")
    # Granted through the action so that the audit log has a national (establishment-less) row.
    national = StaffFactory(username="national")
    do_grant_role(national, "national_admin", None, actor=None)
    return World(
        a=a,
        b=b,
        national=national,
        nobody=StaffFactory(username="sans-role"),
        superuser=StaffFactory(username="racine", is_superuser=True),
    )


@pytest.fixture
def as_user(client):
    """Sign the test client in as a staff user and return it."""

    def sign_in_as(user):
        return sign_in(client, user)

    return sign_in_as
