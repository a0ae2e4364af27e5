"""Bad input gets a clear error on the form, and nothing is written."""

import pytest
from django.utils.html import escape

from audit.models import AuditEvent
from people.models import AuthorizedContact, LedgerEntry, PhoneAccount, Suspension
from tests.admin.helpers import add, change, errors_of


@pytest.fixture
def officer(world, as_user):
    return as_user(world.a.staff["supervisor"])


def add_contact(client, world, phone):
    return add(
        client,
        AuthorizedContact,
        detainee=str(world.a.detainee.pk),
        last_name="Durand",
        first_name="Léa",
        phone=phone,
        relationship="parent",
    )


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("06 12", "« 06 12 » n'est pas un numéro valide."),
        ("bonjour", "« bonjour » n'est pas un numéro de téléphone."),
        ("08 99 12 34 56", "Les numéros surtaxés ne peuvent pas être autorisés."),
        ("0800 12 34 56", "Les numéros verts ne peuvent pas être autorisés."),
        ("3631", "Les numéros courts ne peuvent pas être autorisés."),
        ("112", "Les numéros courts ne peuvent pas être autorisés."),
        ("", "Ce champ est obligatoire."),
    ],
)
def test_it_refuses_bad_phone_numbers_clearly(world, officer, phone, message):
    contacts, events = AuthorizedContact.objects.count(), AuditEvent.objects.count()
    response = add_contact(officer, world, phone)
    assert errors_of(response, "phone") == [message]
    assert escape(message) in response.content.decode()
    assert (AuthorizedContact.objects.count(), AuditEvent.objects.count()) == (contacts, events)


def test_it_refuses_a_number_already_authorized_for_the_detainee(world, officer):
    contacts, events = AuthorizedContact.objects.count(), AuditEvent.objects.count()
    # The approved contact's number, typed the way a clerk would.
    response = add_contact(officer, world, "06 12 34 00 01")
    assert errors_of(response, "phone") == [
        "Ce numéro est déjà autorisé ou en demande pour cette personne détenue."
    ]
    assert (AuthorizedContact.objects.count(), AuditEvent.objects.count()) == (contacts, events)


def test_it_accepts_the_same_number_for_another_detainee(world, officer):
    response = add(
        officer,
        AuthorizedContact,
        detainee=str(world.a.newcomer.pk),
        last_name="Benali",
        first_name="Amina",
        phone="06 12 34 00 01",
        relationship="sibling",
    )
    assert response.status_code == 302
    contact = AuthorizedContact.objects.get(detainee=world.a.newcomer)
    assert (contact.phone_number, contact.status) == ("+33612340001", "requested")
    assert AuditEvent.objects.filter(action="contact.requested", target_id=str(contact.pk)).exists()


def suspension(detainee, starts, ends, reason):
    """The add form's values; dates and times go in the admin's split date/time inputs."""
    return {
        "detainee": str(detainee.pk),
        "starts_at_0": starts[0],
        "starts_at_1": starts[1],
        "ends_at_0": ends[0],
        "ends_at_1": ends[1],
        "reason": reason,
    }


@pytest.mark.parametrize(
    ("starts", "ends"),
    [(("2030-01-10", "10:00"), ("2030-01-09", "10:00")), (("2030-01-10", "10:00"),) * 2],
)
def test_it_refuses_a_suspension_ending_before_it_starts(world, officer, starts, ends):
    suspensions, events = Suspension.objects.count(), AuditEvent.objects.count()
    response = add(officer, Suspension, **suspension(world.a.detainee, starts, ends, "Incident"))
    assert errors_of(response, "ends_at") == ["La fin de la suspension doit suivre son début."]
    assert (Suspension.objects.count(), AuditEvent.objects.count()) == (suspensions, events)


def test_it_requires_a_reason_for_a_suspension(world, officer):
    suspensions = Suspension.objects.count()
    values = suspension(world.a.detainee, ("2030-01-10", "10:00"), ("2030-01-12", "10:00"), "  ")
    response = add(officer, Suspension, **values)
    assert errors_of(response, "reason") == ["Ce champ est obligatoire."]
    assert Suspension.objects.count() == suspensions


BAD_PINS = ["123", "123456789", "12a4", "12 34", "abcd"]


def ledger_line(amount, kind):
    """A new line in the ledger inline, after the account's one existing entry."""
    return {"ledger-1-amount_cents": amount, "ledger-1-kind": kind, "ledger-1-label": "Mandat"}


@pytest.mark.parametrize("pin", BAD_PINS)
def test_it_refuses_a_bad_pin_when_opening_an_account(world, officer, pin):
    accounts, events = PhoneAccount.objects.count(), AuditEvent.objects.count()
    response = add(officer, PhoneAccount, detainee=str(world.a.newcomer.pk), pin=pin)
    assert "Le code PIN doit comporter de 4 à 8 chiffres." in errors_of(response, "pin")
    assert (PhoneAccount.objects.count(), AuditEvent.objects.count()) == (accounts, events)


@pytest.mark.parametrize("pin", BAD_PINS)
def test_it_refuses_a_bad_pin_when_changing_it(world, officer, pin):
    account = world.a.account
    events, entries = AuditEvent.objects.count(), LedgerEntry.objects.count()
    # A valid ledger line in the same submission must not be written either.
    response = change(officer, account, new_pin=pin, **ledger_line("500", "credit"))
    assert "Le code PIN doit comporter de 4 à 8 chiffres." in errors_of(response, "new_pin")
    account.refresh_from_db()
    assert account.check_pin("1234")
    assert (AuditEvent.objects.count(), LedgerEntry.objects.count()) == (events, entries)


@pytest.mark.parametrize(
    ("amount", "kind", "message"),
    [
        ("0", "adjustment", "Le montant ne peut pas être nul."),
        ("-500", "credit", "Un crédit ou un remboursement doit avoir un montant positif."),
        ("300", "call_charge", "Un appel se débite : le montant doit être négatif."),
    ],
)
def test_it_refuses_a_ledger_line_of_the_wrong_sign(world, officer, amount, kind, message):
    account = world.a.account
    events, entries = AuditEvent.objects.count(), LedgerEntry.objects.count()
    response = change(officer, account, new_pin="4321", **ledger_line(amount, kind))
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.forms[1].errors["amount_cents"] == [message]
    account.refresh_from_db()
    # Neither the ledger line nor the valid PIN change of the same submission is saved.
    assert account.check_pin("1234")
    assert (AuditEvent.objects.count(), LedgerEntry.objects.count()) == (events, entries)


def test_it_refuses_an_out_of_range_call_policy(world, as_user):
    client = as_user(world.a.staff["director"])
    establishment = world.a.establishment
    response = change(client, establishment, call_minutes="45")
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "La durée d'un appel doit être entre 20 et 30 minutes."
    ]
    establishment.refresh_from_db()
    assert establishment.call_minutes == 30


def test_it_refuses_more_relatives_per_call_than_calls_reach(world, as_user, settings):
    # A booking may name only as many contacts as calls reach.
    settings.CALL_RELATIVES_SUPPORTED = 1
    client = as_user(world.a.staff["director"])
    establishment = world.a.establishment
    establishment.max_relatives_per_call = 1
    establishment.save(update_fields=["max_relatives_per_call"])
    response = change(client, establishment, max_relatives_per_call="3")
    assert response.status_code == 200
    assert errors_of(response, "max_relatives_per_call") == [
        "Les appels ne réunissent encore qu'au plus 1 proche(s)."
    ]
    establishment.refresh_from_db()
    assert establishment.max_relatives_per_call == 1
    assert change(client, establishment, max_relatives_per_call="1").status_code == 302
