"""The right of access: a package complete against a fixture that touches every table
holding personal data, scoped to the staff member's establishments, and audited."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.apps import apps
from django.core import serializers
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from bookings.models import BookingNotice, BookingTransition
from notify.models import Attempt, Message
from people.actions import do_decide_contact
from people.models import AuthorizedContact, LedgerEntry, Suspension
from privacy import package
from privacy.tests.helpers import CLIENT_IP, USER_AGENT, finished_call, pending_recording
from recordings import retention
from tests.factories import ContactFactory, DetaineeFactory, sign_in, staff_with_role

pytestmark = pytest.mark.django_db

# Every table with personal data about a relative, or a detainee (docs/privacy.md).
RELATIVE_TABLES = {
    "people.authorizedcontact",
    "people.contactdecision",
    "bookings.booking",
    "bookings.bookingtransition",
    "bookings.bookingnotice",
    "calls.call",
    "calls.callrelative",
    "calls.calltransition",
    "calls.callwarning",
    "calls.callcode",
    "calls.consent",
    "calls.participant",
    "notify.message",
    "notify.attempt",
    "recordings.recording",
    "recordings.hold",
    "audit.auditevent",
}
DETAINEE_TABLES = (RELATIVE_TABLES - {"notify.message", "notify.attempt"}) | {
    "people.detainee",
    "people.phoneaccount",
    "people.ledgerentry",
    "people.suspension",
}


@pytest.fixture
def world():
    """One call with everything a call leaves, and around it one row in every other table."""
    call = finished_call()
    contact, detainee = call.contact, call.detainee
    establishment = detainee.establishment
    director = staff_with_role("director", establishment)
    # The same relative also asked to call another detainee, and was refused.
    other_detainee = DetaineeFactory(quarter=detainee.quarter)
    second = ContactFactory(
        detainee=other_detainee,
        phone_number=contact.phone_number,
        status=AuthorizedContact.Status.REQUESTED,
    )
    do_decide_contact(second, AuthorizedContact.Status.REFUSED, reason="Refus", actor=director)
    # Someone else, who must not appear.
    stranger = ContactFactory(detainee=detainee, first_name="Zélie", last_name="Inconnue")
    do_decide_contact(stranger, AuthorizedContact.Status.REVOKED, reason="Fin", actor=director)
    BookingTransition.objects.create(
        booking=call.booking, to_status="booked", via="kiosk", reason="Réservé à la borne"
    )
    notice = Message.objects.create(
        establishment=establishment,
        contact=contact,
        to_number=contact.phone_number,
        channel="sms",
        language="fr",
        purpose="booking_made",
        text="Appel vidéo réservé",
        backend="outbox",
    )
    BookingNotice.objects.create(message=notice, booking=call.booking, sequence=0)
    Attempt.objects.create(message=notice, channel="sms", backend="outbox", outcome="accepted")
    hold = retention.place_hold(pending_recording(call), "judicial", "PV 1", actor=director)
    LedgerEntry.objects.create(
        account=detainee.account, amount_cents=500, kind="credit", label="Crédit"
    )
    Suspension.objects.create(
        detainee=detainee,
        starts_at=timezone.now() + timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=2),
        reason="Incident",
        decided_by=director,
    )
    return {
        "call": call,
        "contact": contact,
        "detainee": detainee,
        "director": director,
        "stranger": stranger,
        "hold": hold,
    }


def _rows_mentioning(text: str, skip=()) -> set[tuple[str, int]]:
    """Every row of every table whose stored values contain ``text``."""
    found = set()
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in skip or model._meta.app_label in {"contenttypes", "admin", "auth"}:
            continue
        for row in json.loads(serializers.serialize("json", model._default_manager.all())):
            if text in json.dumps(row["fields"], ensure_ascii=False):
                found.add((label, row["pk"]))
    return found


def _in(made, label: str) -> set[int]:
    return {row["id"] for row in made.tables.get(label, [])}


def test_a_relatives_package_holds_every_table_and_every_row_naming_them(world):
    contact = world["contact"]
    made = package.export("relative", contact.phone_number, establishment_ids=None)

    assert RELATIVE_TABLES <= set(made.tables), RELATIVE_TABLES - set(made.tables)
    assert len(made.tables["people.authorizedcontact"]) == 2  # both detainees
    missing = {
        (label, pk)
        for label, pk in _rows_mentioning(contact.phone_number)
        if pk not in _in(made, label)
    }
    assert missing == set()
    document = made.json_bytes().decode()
    assert world["stranger"].phone_number not in document and "Inconnue" not in document
    assert CLIENT_IP in document and USER_AGENT in document  # the relative's own device
    # No secret leaves: codes' hashes, tokens, media secrets.
    for secret in ("code_hash", "link_token", "janus_room_secret", "seat_hash", '"hash"'):
        assert secret not in document
    assert contact.phone_number in made.text() and "Benali" in made.text()


def test_a_detainees_package_holds_every_table_and_leaves_out_the_relatives_device(world):
    detainee = world["detainee"]
    made = package.export("detainee", detainee.prison_number, establishment_ids=None)

    assert DETAINEE_TABLES <= set(made.tables), DETAINEE_TABLES - set(made.tables)
    missing = {
        (label, pk)
        for label, pk in _rows_mentioning(detainee.last_name, skip={"audit.auditevent"})
        if pk not in _in(made, label)
    }
    assert missing == set()
    document = made.json_bytes().decode()
    assert CLIENT_IP not in document and USER_AGENT not in document
    assert "consent.client_ip, consent.user_agent" in made.withheld


def test_an_export_is_audited_without_the_number(world):
    contact = world["contact"]
    made = package.export(
        "relative", contact.phone_number, establishment_ids=None, actor=world["director"]
    )
    event = AuditEvent.objects.filter(action="privacy.access_exported").get()
    assert event.actor_id == world["director"].pk
    assert set(event.data["subject_rows"]) == _in(made, "people.authorizedcontact")
    assert event.data["rows"] == made.rows
    assert contact.phone_number not in json.dumps(event.data)


def test_the_command_writes_json_and_text(world, tmp_path):
    out = io.StringIO()
    call_command(
        "privacy_access_export",
        "--detainee",
        world["detainee"].prison_number,
        "--out",
        str(tmp_path),
        "--by",
        "courrier 2026-17",
        stdout=out,
    )
    (json_file,) = tmp_path.glob("*.json")
    (text_file,) = tmp_path.glob("*.txt")
    assert json.loads(json_file.read_text())["subject"]["kind"] == "detainee"
    assert world["detainee"].last_name in text_file.read_text()
    assert AuditEvent.objects.get(action="privacy.access_exported").actor_label == (
        "command:courrier 2026-17"
    )


def test_a_director_downloads_the_package_of_their_establishment_only(client, world):
    contact = world["contact"]
    url = reverse("console:privacy_access")
    sign_in(client, world["director"])
    response = client.post(url, {"kind": "relative", "identifier": contact.phone_number})

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert set(archive.namelist()) == {"donnees.json", "donnees.txt"}
    data = json.loads(archive.read("donnees.json"))
    assert len(data["tables"]["people.authorizedcontact"]) == 2

    elsewhere = staff_with_role("director", DetaineeFactory().establishment)
    client.logout()
    sign_in(client, elsewhere)
    response = client.post(url, {"kind": "relative", "identifier": contact.phone_number})
    assert response.status_code == 200 and "zip" not in response["Content-Type"]
    assert contact.phone_number not in response.content.decode().replace(
        f'value="{contact.phone_number}"', ""
    )


def test_a_guard_may_not_export(client, world):
    guard = staff_with_role("guard", world["detainee"].establishment)
    sign_in(client, guard)
    response = client.post(
        reverse("console:privacy_access"),
        {"kind": "relative", "identifier": world["contact"].phone_number},
    )
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="privacy.access_exported").exists()
