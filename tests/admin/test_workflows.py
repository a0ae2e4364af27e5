"""What staff do in the admin goes through people.actions and lands in the audit log."""

from datetime import timedelta

from django.contrib.admin import helpers
from django.utils import timezone

from audit.log import verify
from audit.models import AuditEvent
from bookings.models import Booking
from calls.access import kiosk_device
from establishments.models import Establishment, KioskDevice
from people.models import (
    AuthorizedContact,
    ContactDecision,
    LedgerEntry,
    PhoneAccount,
    Role,
    StaffUser,
    Suspension,
)
from tests.admin.helpers import add, admin_base, change, submit
from tests.factories import QuarterFactory

CONTACTS = admin_base(AuthorizedContact)
SUSPENSIONS = admin_base(Suspension)


def events(action, **filters):
    return AuditEvent.objects.filter(action=action, **filters)


def act(client, url, action, rows, reason=None):
    """Run an admin action the way the changelist does; with ``reason``, confirm it too."""
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(r.pk) for r in rows]}
    if reason is not None:
        data.update(apply="yes", reason=reason)
    return client.post(url, data)


# Contacts


def test_it_asks_a_reason_then_approves_a_contact_and_audits(world, as_user):
    client = as_user(world.a.staff["supervisor"])
    contact = world.a.requested

    page = act(client, CONTACTS, "approve", [contact])
    assert page.status_code == 200
    assert 'name="reason"' in page.content.decode()
    contact.refresh_from_db()
    assert contact.status == "requested"

    response = act(client, CONTACTS, "approve", [contact], reason="Lien familial vérifié")
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.status == "approved"
    decision = ContactDecision.objects.get(contact=contact, to_status="approved")
    assert decision.decided_by == world.a.staff["supervisor"]
    event = events("contact.approved", target_id=str(contact.pk)).get()
    assert event.actor == world.a.staff["supervisor"]
    assert event.establishment == world.a.establishment
    assert event.data["reason"] == "Lien familial vérifié"
    assert verify() is None


def test_it_shows_the_decisions_on_the_contact_page(world, as_user):
    client = as_user(world.a.staff["guard"])
    page = client.get(f"{CONTACTS}{world.a.contact.pk}/change/").content.decode()
    assert "Lien vérifié Alpha" in page


def test_it_keeps_the_reason_mandatory(world, as_user):
    client = as_user(world.a.staff["director"])
    contact = world.a.requested
    response = act(client, CONTACTS, "refuse", [contact], reason="  ")
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == ["Ce champ est obligatoire."]
    contact.refresh_from_db()
    assert contact.status == "requested"
    assert not events("contact.refused").exists()


def test_it_applies_a_decision_to_all_or_none(world, as_user):
    client = as_user(world.a.staff["director"])
    requested, approved = world.a.requested, world.a.contact
    decisions = ContactDecision.objects.count()
    # Refusing an approved contact is not a move the workflow allows: nothing is done.
    response = act(client, CONTACTS, "refuse", [requested, approved], reason="Doublon")
    assert response.status_code == 302
    requested.refresh_from_db()
    assert requested.status == "requested"
    assert ContactDecision.objects.count() == decisions
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("Rien n'a été fait" in m and "Autorisé" in m for m in messages), messages


def test_it_revokes_an_approved_contact(world, as_user):
    client = as_user(world.a.staff["director"])
    contact = world.a.contact
    act(client, CONTACTS, "revoke", [contact], reason="Demande de la personne détenue")
    contact.refresh_from_db()
    assert contact.status == "revoked"
    assert events("contact.revoked", target_id=str(contact.pk)).exists()


def test_it_lets_no_guard_decide_a_contact(world, as_user):
    client = as_user(world.a.staff["guard"])
    contact = world.a.requested
    assert 'value="approve"' not in client.get(CONTACTS).content.decode()
    assert 'value="approve"' in as_user(world.a.staff["supervisor"]).get(CONTACTS).content.decode()
    client = as_user(world.a.staff["guard"])
    response = act(client, CONTACTS, "approve", [contact], reason="Je décide")
    assert response.status_code in (200, 302)
    contact.refresh_from_db()
    assert contact.status == "requested"
    assert not ContactDecision.objects.filter(contact=contact).exists()
    assert not events("contact.approved", target_id=str(contact.pk)).exists()


# Suspensions


def test_it_suspends_through_the_action_and_audits(world, as_user):
    client = as_user(world.a.staff["supervisor"])
    detainee = world.a.newcomer
    response = add(
        client,
        Suspension,
        detainee=str(detainee.pk),
        starts_at_0="2030-01-10",
        starts_at_1="10:00",
        ends_at_0="2030-01-20",
        ends_at_1="10:00",
        reason="Incident au parloir",
    )
    assert response.status_code == 302
    suspension = Suspension.objects.get(detainee=detainee)
    assert suspension.decided_by == world.a.staff["supervisor"]
    event = events("suspension.decided", target_id=str(suspension.pk)).get()
    assert event.establishment == world.a.establishment
    assert event.data["reason"] == "Incident au parloir"


def test_it_reads_the_suspension_times_on_the_establishments_own_clock(world, as_user):
    establishment = world.a.establishment
    establishment.time_zone = "Indian/Reunion"
    establishment.save(update_fields=["time_zone"])
    client = as_user(world.a.staff["supervisor"])
    response = add(
        client,
        Suspension,
        detainee=str(world.a.newcomer.pk),
        starts_at_0="2030-01-10",
        starts_at_1="08:00",
        ends_at_0="2030-01-20",
        ends_at_1="08:00",
        reason="Incident au parloir",
    )
    assert response.status_code == 302
    suspension = Suspension.objects.get(detainee=world.a.newcomer)
    local_start = suspension.starts_at.astimezone(establishment.zone)
    assert (local_start.date().isoformat(), local_start.hour, local_start.minute) == (
        "2030-01-10",
        8,
        0,
    )


def test_it_lets_no_guard_suspend(world, as_user):
    client = as_user(world.a.staff["guard"])
    suspensions = Suspension.objects.count()
    response = client.post(
        SUSPENSIONS + "add/",
        {
            "detainee": str(world.a.newcomer.pk),
            "starts_at_0": "2030-01-10",
            "starts_at_1": "10:00",
            "ends_at_0": "2030-01-20",
            "ends_at_1": "10:00",
            "reason": "Je suspends",
        },
    )
    assert response.status_code == 403
    assert Suspension.objects.count() == suspensions
    suspension = world.a.suspension
    act(client, SUSPENSIONS, "lift", [suspension], reason="Je lève")
    suspension.refresh_from_db()
    assert suspension.lifted_at is None


def test_it_lifts_a_suspension_with_a_reason(world, as_user):
    client = as_user(world.a.staff["director"])
    suspension = world.a.suspension
    act(client, SUSPENSIONS, "lift", [suspension], reason="Comportement exemplaire")
    suspension.refresh_from_db()
    assert suspension.lifted_by == world.a.staff["director"]
    assert suspension.lift_reason == "Comportement exemplaire"
    assert events("suspension.lifted", target_id=str(suspension.pk)).exists()
    # Lifting again is refused with a message, and changes nothing.
    response = act(client, SUSPENSIONS, "lift", [suspension], reason="Encore")
    assert any("déjà levée" in str(m) for m in response.wsgi_request._messages)
    assert events("suspension.lifted", target_id=str(suspension.pk)).count() == 1


# Roles and staff


def test_it_grants_a_role_through_the_action_and_audits(world, as_user):
    director = world.a.staff["director"]
    guard = world.a.staff["guard"]
    client = as_user(director)
    response = add(
        client,
        Role,
        user=str(guard.pk),
        name="supervisor",
        establishment=str(world.a.establishment.pk),
    )
    assert response.status_code == 302
    role = Role.objects.get(user=guard, name="supervisor")
    event = events("role.granted", target_id=str(role.pk)).get()
    assert (event.actor, event.establishment) == (director, world.a.establishment)


def test_it_lets_only_national_administrators_grant_national_administration(world, as_user):
    guard = world.a.staff["guard"]
    data = {"user": str(guard.pk), "name": "national_admin", "establishment": ""}

    client = as_user(world.a.staff["director"])
    page = client.get(admin_base(Role) + "add/")
    assert 'value="national_admin"' not in page.content.decode()
    response = client.post(admin_base(Role) + "add/", data)
    assert "name" in response.context["adminform"].form.errors
    assert not Role.objects.filter(user=guard, name="national_admin").exists()

    client = as_user(world.national)
    assert client.post(admin_base(Role) + "add/", data).status_code == 302
    assert Role.objects.filter(user=guard, name="national_admin").exists()
    assert events("role.granted", establishment=None, actor=world.national).exists()


def test_it_revokes_a_role_through_the_action(world, as_user):
    client = as_user(world.a.staff["director"])
    role = world.a.staff["guard"].roles.get()
    response = client.post(f"{admin_base(Role)}{role.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Role.objects.filter(pk=role.pk).exists()
    assert events("role.revoked", target_id=str(role.pk)).exists()


PASSWORD = "Un mot de passe solide 2030"


def add_staff(client, username, **values):
    return add(
        client,
        StaffUser,
        username=username,
        usable_password="true",
        password1=PASSWORD,
        password2=PASSWORD,
        **values,
    )


def test_it_creates_a_staff_account_with_its_first_role(world, as_user):
    director = world.a.staff["director"]
    client = as_user(director)
    response = add_staff(
        client,
        "nouvelle-agente",
        last_name="Moreau",
        first_name="Claire",
        role="guard",
        establishment=str(world.a.establishment.pk),
    )
    assert response.status_code == 302
    user = StaffUser.objects.get(username="nouvelle-agente")
    assert user.is_staff and not user.is_superuser
    assert user.check_password(PASSWORD)
    assert list(user.roles.values_list("name", "establishment")) == [
        ("guard", world.a.establishment.pk)
    ]
    assert events("role.granted", target_id=str(user.roles.get().pk)).exists()
    assert events("staffuser.created", target_id=str(user.pk)).get().establishment_id == (
        world.a.establishment.pk
    )


def test_it_creates_no_account_without_a_valid_role(world, as_user):
    client = as_user(world.a.staff["director"])
    users = StaffUser.objects.count()
    response = add_staff(client, "sans-etablissement", role="guard", establishment="")
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["establishment"]
    assert StaffUser.objects.count() == users


def test_it_keeps_directors_off_accounts_shared_with_another_establishment(world, as_user):
    shared = world.a.staff["guard"]
    Role.objects.create(user=shared, name="guard", establishment=world.b.establishment)
    client = as_user(world.a.staff["director"])
    url = f"{admin_base(StaffUser)}{shared.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="_save"' not in content
    assert "Bravo" not in content
    assert client.post(url, {"username": "renamed", "is_active": ""}).status_code == 403
    assert client.get(f"{admin_base(StaffUser)}{shared.pk}/password/").status_code == 403
    shared.refresh_from_db()
    assert shared.username == "alpha-guard" and shared.is_active


def test_it_audits_a_password_set_by_a_director(world, as_user):
    client = as_user(world.a.staff["director"])
    guard = world.a.staff["guard"]
    url = f"{admin_base(StaffUser)}{guard.pk}/password/"
    response = submit(
        client,
        url,
        "staffuser_form",
        password1="Autre mot de passe solide 2031",
        password2="Autre mot de passe solide 2031",
    )
    assert response.status_code == 302
    guard.refresh_from_db()
    assert guard.check_password("Autre mot de passe solide 2031")
    assert events("staffuser.password_set", target_id=str(guard.pk)).exists()


# Establishments, kiosks, detainees, accounts


def test_it_registers_a_kiosk_and_shows_its_credential_once(world, as_user):
    client = as_user(world.a.staff["director"])
    response = add(client, KioskDevice, room=str(world.a.room.pk), label="Borne des arrivants")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    device = KioskDevice.objects.get(label="Borne des arrivants")
    credential = response.context["credential"]
    assert credential in response.content.decode()
    assert kiosk_device(credential) == device
    assert events("kiosk.registered", target_id=str(device.pk)).exists()
    page = client.get(f"{admin_base(KioskDevice)}{device.pk}/change/").content.decode()
    assert credential not in page
    assert device.credential_prefix in page

    act(client, admin_base(KioskDevice), "revoke", [device], reason="Borne volée")
    device.refresh_from_db()
    assert device.revoked_at is not None
    assert kiosk_device(credential) is None
    assert events("kiosk.revoked", target_id=str(device.pk)).get().data == {"reason": "Borne volée"}


def test_it_lets_no_guard_revoke_a_kiosk(world, as_user):
    client = as_user(world.a.staff["guard"])
    kiosk = world.a.kiosk
    act(client, admin_base(KioskDevice), "revoke", [kiosk], reason="Je révoque")
    kiosk.refresh_from_db()
    assert kiosk.revoked_at is None


def test_it_lets_a_director_set_the_call_policy_but_not_the_identity(world, as_user):
    director = world.a.staff["director"]
    establishment = world.a.establishment
    client = as_user(director)
    response = change(client, establishment, call_minutes="25", name="Renommé", code="autre")
    assert response.status_code == 302
    establishment.refresh_from_db()
    assert establishment.call_minutes == 25
    assert establishment.name == "Centre pénitentiaire Alpha"
    event = events("establishment.changed", target_id=str(establishment.pk)).get()
    assert event.data == {"call_minutes": 25}


def test_it_lets_only_a_national_administrator_create_an_establishment(world, as_user):
    values = {
        "name": "Centre pénitentiaire Charlie",
        "code": "cp-charlie",
        "address": "3 rue du Port, 29200 Brest",
        "contact_phone": "+33298000000",
        "contact_hours": "9h–17h",
    }
    director = as_user(world.a.staff["director"])
    assert director.get(admin_base(Establishment) + "add/").status_code == 403
    national = as_user(world.national)
    response = add(national, Establishment, **values)
    assert response.status_code == 302
    created = Establishment.objects.get(code="cp-charlie")
    assert events(
        "establishment.created", target_id=str(created.pk), establishment=created
    ).exists()


def test_it_changes_a_detainee_status_through_the_action(world, as_user):
    client = as_user(world.a.staff["supervisor"])
    detainee = world.a.detainee
    response = change(client, detainee, status="transferred", first_name="Karima")
    assert response.status_code == 302
    detainee.refresh_from_db()
    assert (detainee.status, detainee.first_name) == ("transferred", "Karima")
    assert events("detainee.status_changed", target_id=str(detainee.pk)).get().data == {
        "from": "present",
        "to": "transferred",
    }
    assert events("detainee.changed", target_id=str(detainee.pk)).get().data == {
        "first_name": "Karima"
    }


def test_it_opens_an_account_sets_its_pin_and_credits_it(world, as_user):
    supervisor = world.a.staff["supervisor"]
    client = as_user(supervisor)
    response = add(client, PhoneAccount, detainee=str(world.a.newcomer.pk), pin="24680")
    assert response.status_code == 302
    account = PhoneAccount.objects.get(detainee=world.a.newcomer)
    assert account.check_pin("24680")
    assert events("phone_account.opened", target_id=str(account.pk)).exists()

    url = f"{admin_base(PhoneAccount)}{account.pk}/change/"
    response = change(
        client,
        account,
        new_pin="13579",
        **{"ledger-0-amount_cents": "2000", "ledger-0-kind": "credit", "ledger-0-label": "Mandat"},
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.check_pin("13579")
    assert events("phone_account.pin_set", target_id=str(account.pk)).exists()
    entry = LedgerEntry.objects.get(account=account)
    assert (entry.amount_cents, entry.created_by) == (2000, supervisor)
    assert events("phone_account.ledger", target_id=str(account.pk)).exists()
    assert "20,00" in client.get(url).content.decode()


def test_it_shows_the_account_on_the_detainee_page(world, as_user):
    client = as_user(world.a.staff["guard"])
    detainee = world.a.detainee
    page = client.get(f"{admin_base(type(detainee))}{detainee.pk}/change/").content.decode()
    assert "15,00" in page
    assert f"{admin_base(PhoneAccount)}{world.a.account.pk}/change/" in page


def test_it_lets_an_auditor_read_the_audit_log_only(world, as_user):
    client = as_user(world.a.staff["auditor"])
    listing = client.get(admin_base(AuditEvent))
    assert listing.status_code == 200
    assert "contact.approved" in listing.content.decode()
    event = AuditEvent.objects.filter(establishment=world.a.establishment).first()
    url = f"{admin_base(AuditEvent)}{event.pk}/change/"
    assert 'name="_save"' not in client.get(url).content.decode()
    assert client.post(url, {"action": "forged"}).status_code == 403
    delete = client.post(f"{admin_base(AuditEvent)}{event.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    event.refresh_from_db()
    assert event.action != "forged"
    assert verify() is None
    # Nothing else an auditor may change.
    assert client.get(admin_base(AuthorizedContact) + "add/").status_code == 403
    assert client.get(admin_base(Suspension) + "add/").status_code == 403


def test_it_moves_a_detainee_to_another_quarter_and_cancels_what_he_can_no_longer_keep(
    world, as_user
):
    detainee = world.a.detainee
    starts_at = timezone.now() + timedelta(days=2)
    booking = Booking.objects.create(
        room=world.a.room,
        detainee=detainee,
        contact=world.a.contact,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
        booked_via="kiosk",
    )
    isolation = QuarterFactory(establishment=world.a.establishment, code="A-QI", name="QI")
    client = as_user(world.a.staff["supervisor"])
    response = change(client, detainee, quarter=str(isolation.pk))
    assert response.status_code == 302
    detainee.refresh_from_db()
    assert detainee.quarter == isolation
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    assert events("detainee.moved", target_id=str(detainee.pk)).get().data == {
        "from": world.a.quarter.pk,
        "to": isolation.pk,
    }
    assert not events("detainee.changed", target_id=str(detainee.pk)).exists()
