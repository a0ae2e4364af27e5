"""The privacy purge with a moved clock: each category just before and just after its
retention, holds, dry runs, the purge log, the audit chain, and what survives."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core import serializers
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from audit.log import record, verify
from audit.models import AuditBase, AuditEvent
from bookings.models import Booking
from calls.models import Call, CallCode, CallRoom, CallWarning, CodeAttempt, Consent, Participant
from notify.models import Message
from people.actions import do_change_detainee_status, do_decide_contact
from people.models import AuthorizedContact, Detainee
from privacy import purge
from privacy.models import PurgeLog
from privacy.tests.helpers import CLIENT_IP, USER_AGENT, finished_call, pending_recording, travel
from recordings import retention
from recordings.models import Recording, ReplaySession
from tests.factories import ContactFactory, staff_with_role

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(timezone.now(), tick=False)


def _apply():
    return purge.purge(apply=True)


def test_a_call_keeps_its_people_until_its_retention_then_only_its_figures(time_machine):
    call = finished_call()
    contact = call.contact
    assert Consent.objects.filter(call=call).count() == 3

    travel(time_machine, call.ended_at, 364.9)
    assert _apply().count("calls") == 0
    assert Call.objects.get(pk=call.pk).contact_id == contact.pk

    travel(time_machine, call.ended_at, 365.1)
    report = _apply()

    assert report.count("calls") == 1
    after = Call.objects.get(pk=call.pk)
    assert (after.contact_id, after.detainee_id) == (None, None)
    assert after.booking.contact_id is None and after.booking.detainee_id is None
    # The figures stay: when, how long, how it ended, where.
    assert (after.state, after.end_reason, after.started_at, after.ended_at) == (
        call.state,
        call.end_reason,
        call.started_at,
        call.ended_at,
    )
    assert after.booking.room_id == call.booking.room_id
    assert not Consent.objects.filter(call=call).exists()
    assert not CallCode.objects.filter(call=call).exists()
    assert not Participant.objects.filter(call=call).exists()
    assert (after.janus_room_pin, after.janus_room_secret) == ("", "")
    assert not CallRoom.objects.filter(call=call).exclude(pin="", secret="").exists()
    assert CallWarning.objects.get(call=call).text == purge.ERASED
    # Nothing happens twice.
    assert _apply().count("calls") == 0


def test_the_call_retention_follows_the_establishment_within_its_bounds(time_machine):
    call = finished_call()
    establishment = call.booking.room.quarter.establishment
    establishment.call_data_retention_days = 89
    with pytest.raises(ValidationError):
        establishment.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        establishment.save()
    establishment.refresh_from_db()
    establishment.call_data_retention_days = 90
    establishment.save()

    travel(time_machine, call.ended_at, 89.9)
    assert _apply().count("calls") == 0
    travel(time_machine, call.ended_at, 90.1)
    assert _apply().count("calls") == 1


def test_code_texts_go_an_hour_after_expiry_and_numbers_after_the_message_retention(
    time_machine,
):
    call = finished_call()
    message = CallCode.objects.get(call=call).message
    assert message.text and message.to_number == call.contact.phone_number

    time_machine.move_to(message.valid_until + timedelta(minutes=59), tick=False)
    _apply()
    assert Message.objects.get(pk=message.pk).text == message.text

    time_machine.move_to(message.valid_until + timedelta(minutes=61), tick=False)
    assert _apply().count("code_texts") == 1
    erased = Message.objects.get(pk=message.pk)
    assert (erased.text, erased.spoken_digits) == ("", "")
    assert erased.to_number == message.to_number

    travel(time_machine, message.created_at, 89.9)
    assert _apply().count("messages") == 0
    travel(time_machine, message.created_at, 90.1)
    assert _apply().count("messages") >= 1
    gone = Message.objects.get(pk=message.pk)
    assert (gone.to_number, gone.contact_id, gone.text) == ("", None, "")
    assert (gone.channel, gone.purpose, gone.status) == (
        message.channel,
        message.purpose,
        message.status,
    )


def test_a_revoked_contact_is_anonymised_once_its_retention_from_the_decision_ends(
    time_machine,
):
    contact = ContactFactory()
    establishment = contact.detainee.establishment
    director = staff_with_role("director", establishment)
    travel(time_machine, timezone.now(), 10)
    do_decide_contact(
        contact, AuthorizedContact.Status.REVOKED, reason="Demande de Mme Benali", actor=director
    )
    decided = timezone.now()

    travel(time_machine, decided, 364.9)
    assert _apply().count("contacts") == 0
    travel(time_machine, decided, 365.1)
    assert _apply().count("contacts") == 1

    after = AuthorizedContact.objects.get(pk=contact.pk)
    assert (after.first_name, after.last_name, after.phone_number) == ("", "", "")
    assert after.anonymised_at is not None
    assert after.relationship == contact.relationship  # kept for the figures
    assert after.decisions.get().reason == purge.ERASED
    # An approved contact is never anonymised by this rule.
    approved = ContactFactory(detainee=contact.detainee)
    travel(time_machine, decided, 2000)
    _apply()
    assert AuthorizedContact.objects.get(pk=approved.pk).anonymised_at is None


def test_a_released_detainee_is_anonymised_with_their_contacts_after_their_calls(time_machine):
    call = finished_call()
    detainee, contact = call.detainee, call.contact
    establishment = detainee.establishment
    director = staff_with_role("director", establishment)
    do_change_detainee_status(detainee, Detainee.Status.RELEASED, actor=director)
    released = timezone.now()

    # Past the detainee's retention but not the call's: the call still names them.
    establishment.detainee_retention_days = 90
    establishment.save()
    travel(time_machine, released, 90.1)
    assert _apply().count("detainees") == 0

    travel(time_machine, released, 365.1)
    report = _apply()

    assert report.count("calls") == 1 and report.count("detainees") == 1
    after = Detainee.objects.get(pk=detainee.pk)
    assert (after.first_name, after.last_name) == ("", "")
    assert after.prison_number == f"anon-{detainee.pk}"
    assert after.account.pin_hash == "" and not after.account.active
    gone = AuthorizedContact.objects.get(pk=contact.pk)
    assert (gone.phone_number, gone.last_name, gone.anonymised_at is not None) == ("", "", True)


def test_a_judicial_hold_freezes_everything_about_its_call_until_lifted(time_machine):
    held_call = finished_call()
    other = finished_call()
    recording = pending_recording(held_call)
    supervisor = staff_with_role("director", held_call.booking.room.quarter.establishment)
    hold = retention.place_hold(recording, "judicial", "PV 2026/0042", actor=supervisor)
    ReplaySession.objects.create(
        recording=recording,
        staff=supervisor,
        reason="Propos de Mme Benali à vérifier",
        expires_at=timezone.now() + timedelta(minutes=30),
    )
    code_message = CallCode.objects.get(call=held_call).message
    do_change_detainee_status(held_call.detainee, Detainee.Status.RELEASED, actor=supervisor)

    travel(time_machine, held_call.ended_at, 800)
    report = _apply()

    assert report.count("calls") == 1  # the other call only
    assert Call.objects.get(pk=other.pk).contact_id is None
    frozen = Call.objects.get(pk=held_call.pk)
    assert (frozen.contact_id, frozen.detainee_id) == (held_call.contact_id, held_call.detainee_id)
    assert Consent.objects.filter(call=held_call).count() == 3
    assert Message.objects.get(pk=code_message.pk).to_number == held_call.contact.phone_number
    assert Detainee.objects.get(pk=held_call.detainee_id).anonymised_at is None
    assert AuditEvent.objects.filter(target_type="Call", target_id=str(held_call.pk)).exists()
    assert verify() is None
    assert any(line.held for line in report.lines if line.category == "calls")

    retention.lift_hold(hold, actor=supervisor, reason="Classement sans suite")
    # The recording has the time the hold stopped its clock left: the call keeps its
    # people as long as it exists.
    assert _apply().count("calls") == 0
    recording = Recording.objects.get(pk=recording.pk)
    time_machine.move_to(recording.retention_until + timedelta(hours=1), tick=False)
    assert len(retention.purge(execute=True).destroyed) == 1
    report = _apply()
    assert report.count("calls") == 1 and report.count("detainees") == 1
    assert Call.objects.get(pk=held_call.pk).contact_id is None
    assert ReplaySession.objects.get(recording=recording).reason == purge.ERASED
    assert verify() is None


def test_a_dry_run_counts_what_apply_does_and_changes_nothing(time_machine):
    call = finished_call()
    travel(time_machine, call.ended_at, 800)
    events, logs = AuditEvent.objects.count(), PurgeLog.objects.count()

    out = StringIO()
    call_command("privacy_purge", "--json", stdout=out)
    dry = json.loads(out.getvalue())

    assert dry["applied"] is False
    assert (AuditEvent.objects.count(), PurgeLog.objects.count()) == (events, logs)
    assert Call.objects.get(pk=call.pk).contact_id == call.contact_id
    planned = {(row["category"], row["establishment"]): row["count"] for row in dry["lines"]}

    out = StringIO()
    call_command("privacy_purge", "--apply", "--json", stdout=out)
    done = json.loads(out.getvalue())
    assert done["applied"] is True
    assert {(row["category"], row["establishment"]): row["count"] for row in done["lines"]} == (
        planned
    )
    assert Call.objects.get(pk=call.pk).contact_id is None


def test_the_purge_log_says_what_was_done_and_cannot_be_changed(time_machine):
    call = finished_call()
    travel(time_machine, call.ended_at, 365.1)
    report = _apply()

    line = PurgeLog.objects.get(category="calls")
    assert (line.count, line.run, line.retention_days) == (1, report.run, 365)
    event = AuditEvent.objects.get(seq=line.audit_seq)
    assert event.action == "privacy.purged" and event.data["counts"]["calls.unlinked"] == 1
    with pytest.raises(ValueError):
        line.save()
    with pytest.raises(ValueError):
        line.delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        PurgeLog.objects.filter(pk=line.pk).update(count=0)
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            PurgeLog.objects.filter(pk=line.pk).delete()


def test_the_audit_chain_is_cut_by_whole_prefix_and_stays_verifiable(time_machine, settings):
    start = timezone.now()
    for n in range(5):
        record("test.old", actor_label="test", data={"n": n})
    travel(time_machine, start, 200)
    recent = record("test.recent", actor_label="test")

    travel(time_machine, start, 365.1)
    report = _apply()

    assert report.count("audit") == 5
    assert not AuditEvent.objects.filter(action="test.old").exists()
    assert AuditEvent.objects.filter(pk=recent.pk).exists()
    assert AuditEvent.objects.filter(action="audit.pruned").exists()
    assert AuditBase.objects.get().seq == recent.seq
    assert verify() is None
    call_command("audit_verify", stdout=StringIO())

    # Nobody without the key moves the start: a base set back or forward is a breach.
    AuditBase.objects.filter(id=1).update(seq=recent.seq + 1)
    assert verify() is not None
    AuditBase.objects.filter(id=1).update(seq=recent.seq)
    assert verify() is None
    AuditEvent.objects.filter(pk=recent.pk).delete()
    assert verify() is not None


def test_audit_rows_are_kept_within_the_audit_retention(time_machine):
    start = timezone.now()
    record("test.old", actor_label="test")
    travel(time_machine, start, 364.9)
    assert _apply().count("audit") == 0
    assert AuditEvent.objects.filter(action="test.old").exists()


def test_code_attempts_go_after_a_day(time_machine):
    CodeAttempt.objects.create(client=CLIENT_IP)
    travel(time_machine, timezone.now(), 0.9)
    assert _apply().count("code_attempts") == 0
    travel(time_machine, timezone.now(), 0.2)
    assert _apply().count("code_attempts") == 1


def test_sessions_go_once_expired(client, time_machine):
    from django.contrib.sessions.models import Session

    session = client.session
    session["call"] = 1
    session.set_expiry(3600)
    session.save()
    travel(time_machine, timezone.now(), 0.9 / 24)
    assert _apply().count("sessions") == 0
    assert Session.objects.filter(pk=session.session_key).exists()
    travel(time_machine, timezone.now(), 0.2 / 24)
    assert _apply().count("sessions") == 1
    assert not Session.objects.filter(pk=session.session_key).exists()


def test_staff_sign_in_failures_go_after_a_month(time_machine):
    from axes.models import AccessFailureLog

    AccessFailureLog.objects.create(
        username="agent-x", ip_address=CLIENT_IP, user_agent=USER_AGENT, locked_out=False
    )
    travel(time_machine, timezone.now(), 29.9)
    assert _apply().count("sign_in_attempts") == 0
    travel(time_machine, timezone.now(), 0.2)
    assert _apply().count("sign_in_attempts") == 1


def test_a_deactivated_staff_account_names_nobody_once_the_audit_retention_has_passed(
    client, time_machine, settings
):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from people.models import Role, StaffUser

    call = finished_call()
    director = staff_with_role("director", call.detainee.establishment)
    leaving = staff_with_role("supervisor", call.detainee.establishment)
    StaffUser.objects.filter(pk=leaving.pk).update(
        first_name="Gaëlle", last_name="Kervadec", email="g.kervadec@example.org"
    )
    TOTPDevice.objects.create(user=leaving, name="téléphone")
    leaving.set_password("un mot de passe")
    leaving.save()
    client.force_login(leaving)
    warned_by = call.warnings.get().staff_id
    StaffUser.objects.filter(pk=leaving.pk).update(is_active=False)
    signed_in = StaffUser.objects.get(pk=leaving.pk).last_login

    travel(time_machine, signed_in, settings.AUDIT_RETENTION_DAYS - 0.1)
    assert _apply().count("former_staff") == 0
    travel(time_machine, signed_in, settings.AUDIT_RETENTION_DAYS + 0.1)
    assert _apply().count("former_staff") == 1

    former = StaffUser.objects.get(pk=leaving.pk)
    assert (former.username, former.first_name, former.last_name, former.email) == (
        f"former-{leaving.pk}",
        "",
        "",
        "",
    )
    assert not former.has_usable_password()
    assert not TOTPDevice.objects.filter(user=former).exists()
    assert not Role.objects.filter(user=former).exists()
    assert "Kervadec" not in _everything() and "g.kervadec" not in _everything()
    # An active account, however old, is left alone; so is what points at the former one.
    assert StaffUser.objects.get(pk=director.pk).anonymised_at is None
    assert call.warnings.get().staff_id == warned_by
    assert _apply().count("former_staff") == 0


def test_no_name_number_or_address_survives_past_every_retention(time_machine):
    call = finished_call()
    revoked = ContactFactory(detainee=call.detainee, first_name="Yasmina", last_name="Ouaki")
    director = staff_with_role("director", call.detainee.establishment)
    do_decide_contact(revoked, AuthorizedContact.Status.REVOKED, reason="Fin", actor=director)
    do_change_detainee_status(call.detainee, Detainee.Status.RELEASED, actor=director)
    CodeAttempt.objects.create(client=CLIENT_IP)
    secrets = {
        call.detainee.last_name,
        call.detainee.prison_number,
        call.contact.last_name,
        call.contact.phone_number,
        call.contact.phone_number[3:],
        revoked.last_name,
        revoked.phone_number,
        CLIENT_IP,
        USER_AGENT,
        "Benali",
    }
    assert all(secret in _everything() for secret in secrets)
    bookings = Booking.objects.count()

    travel(time_machine, call.ended_at, 731)
    _apply()

    dump = _everything()
    assert [secret for secret in secrets if secret in dump] == []
    # The figures are still there.
    assert Call.objects.filter(pk=call.pk, state=call.state).exists()
    assert Booking.objects.count() == bookings
    assert verify() is None


def _everything() -> str:
    """Every row of every table of the project's apps, as text."""
    from django.apps import apps

    parts = []
    for model in apps.get_models():
        if model._meta.app_label in {"contenttypes", "admin", "auth"}:
            continue
        parts.append(serializers.serialize("json", model._default_manager.all()))
    raw = "\n".join(parts)
    return raw + json.loads(json.dumps(raw))  # escaped and unescaped forms


def test_an_unlinked_call_still_opens_for_staff_and_its_calendar_link_is_gone(client, time_machine):
    from django.urls import reverse

    from tests.factories import sign_in

    call = finished_call()
    calendar = reverse("bookings:ics", args=[call.booking.token])
    assert client.get(calendar).status_code == 200
    travel(time_machine, call.ended_at, 365.1)
    _apply()

    assert client.get(calendar).status_code == 404
    sign_in(client, staff_with_role("director", call.booking.room.quarter.establishment))
    page = client.get(reverse("console:call_watch", args=[call.pk]))
    assert page.status_code == 200
    assert call.contact.phone_number not in page.content.decode()
    page = client.get(reverse("console:booking_detail", args=[call.booking_id]))
    assert page.status_code == 200 and "None" not in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_anchors_of_pruned_rows_do_not_break_the_verification(time_machine, settings):
    from audit import anchor
    from audit.log import known_keys

    start = timezone.now()
    for n in range(3):
        record("test.old", actor_label="test", data={"n": n})
    travel(time_machine, start, 200)
    record("test.recent", actor_label="test")
    assert {mark.seq for mark in anchor.read(known_keys())} == {1, 2, 3, 4}

    travel(time_machine, start, 365.1)
    assert _apply().count("audit") == 3

    assert min(AuditEvent.objects.values_list("seq", flat=True)) == 4
    assert verify() is None
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert "intact" in out.getvalue()
    # A pruned row's anchor is ignored, a kept row's still checked: rewrite one, it shows.
    AuditEvent.objects.filter(seq=4).update(action="test.rewritten")
    assert verify().seq == 4


def test_the_command_is_a_dry_run_unless_told_and_says_so(time_machine):
    call = finished_call()
    travel(time_machine, call.ended_at, 365.1)
    code = call.booking.room.quarter.establishment.code

    out = StringIO()
    call_command("privacy_purge", "--establishment", code, stdout=out)
    assert out.getvalue().startswith("Dry run") and Call.objects.get(pk=call.pk).contact_id
    assert f"{code:<16} calls" in out.getvalue()

    out = StringIO()
    call_command("privacy_purge", "--apply", "--establishment", code, stdout=out)
    assert out.getvalue().startswith("Done") and Call.objects.get(pk=call.pk).contact_id is None


def test_the_other_contacts_of_a_call_go_with_its_people_and_are_in_their_package(time_machine):
    # Issue #19: a booking may name contacts besides the first, and a call has a leg for
    # each; they are the call's people too.
    from bookings.models import BookingContact
    from calls.models import CallRelative
    from privacy import package

    call = finished_call()
    sister = ContactFactory(detainee=call.detainee, first_name="Lina", last_name="Sœur")
    BookingContact.objects.create(booking=call.booking, contact=sister, position=1)
    CallRelative.objects.create(call=call, contact=sister, position=1)
    made = package.export("relative", sister.phone_number, establishment_ids=None)
    assert {row["id"] for row in made.tables["calls.call"]} == {call.pk}
    assert {row["id"] for row in made.tables["bookings.booking"]} == {call.booking_id}
    assert {r["contact_id"] for r in made.tables["calls.callrelative"]} >= {sister.pk}
    director = staff_with_role("director", call.detainee.establishment)
    do_decide_contact(sister, AuthorizedContact.Status.REVOKED, reason="Fin", actor=director)

    establishment = call.detainee.establishment
    establishment.call_data_retention_days, establishment.contact_retention_days = 730, 30
    establishment.save(update_fields=["call_data_retention_days", "contact_retention_days"])
    # Past the contact retention, the call still names her: she stays.
    travel(time_machine, call.ended_at, 31)
    _apply()
    sister.refresh_from_db()
    assert sister.last_name == "Sœur"
    assert CallRelative.objects.filter(call=call).count() == 2

    # Past the call's, its legs and the booking's contacts go, then so does she.
    travel(time_machine, call.ended_at, 731)
    _apply()
    assert not CallRelative.objects.filter(call=call).exists()
    assert not BookingContact.objects.filter(booking=call.booking).exists()
    sister.refresh_from_db()
    assert (sister.last_name, sister.phone_number) == ("", "")
