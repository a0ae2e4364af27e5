import math
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from bookings.actions import do_cancel_booking
from calls import actions
from calls.models import Call, Participant
from calls.tests.helpers import ready_call, start
from people.actions import do_decide_contact, do_suspend
from people.models import LedgerEntry
from tests.factories import staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def _consent_all(call, accept_monitoring=True):
    for kind in ("terms", "privacy"):
        actions.do_record_consent(
            call, kind, accepted=True, client_ip="10.0.0.1", user_agent="UA", language="fr"
        )
    actions.do_record_consent(
        call,
        "monitoring",
        accepted=accept_monitoring,
        client_ip="10.0.0.1",
        user_agent="UA",
        language="fr",
    )


def _go_live(call):
    _consent_all(call)
    actions.do_relative_waiting(call)
    for role in ("kiosk", "relative"):
        actions.do_join(call, role)
        actions.do_mark_media_up(call, role)
    return Call.objects.get(pk=call.pk)


def test_it_stores_each_consent_with_version_time_and_client():
    call = start(ready_call())
    _consent_all(call)
    consents = list(call.consents.order_by("kind"))
    assert [c.kind for c in consents] == ["monitoring", "privacy", "terms"]
    assert all(c.text_version and c.at and c.client_ip == "10.0.0.1" for c in consents)


def test_a_refused_monitoring_notice_leaves_the_slot_to_call_again():
    call = start(ready_call())
    _consent_all(call, accept_monitoring=False)
    call.refresh_from_db()
    assert call.state == Call.State.BOOKED
    assert call.is_open and call.end_reason == ""
    assert not call.codes.filter(voided_at__isnull=True).exists()


def test_it_goes_live_when_both_sides_publish_and_sets_the_call_length():
    ready = ready_call(minutes_into_slot=1, slot_minutes=30)
    establishment = ready.site.establishment
    establishment.call_minutes = 20
    establishment.save(update_fields=["call_minutes"])
    call = _go_live(start(ready))
    assert call.state == Call.State.LIVE
    assert call.deadline - call.started_at == timedelta(minutes=20)


def _charged_call_with_credit(credit_cents: int = 1000):
    """A call at 10 cents a minute, with ``credit_cents`` on the detainee's account."""
    ready = ready_call()
    establishment = ready.site.establishment
    establishment.price_per_minute_cents = 10
    establishment.save(update_fields=["price_per_minute_cents"])
    LedgerEntry.objects.create(
        account=ready.site.detainee.account, amount_cents=credit_cents, kind="credit", label="x"
    )
    return ready


def test_it_never_runs_past_the_slot_end():
    ready = ready_call(minutes_into_slot=20, slot_minutes=30)
    call = _go_live(start(ready))
    assert call.deadline == ready.booking.ends_at


def test_a_call_ended_before_its_deadline_has_no_seconds_left():
    call = _go_live(start(ready_call(minutes_into_slot=1, slot_minutes=30)))
    assert call.seconds_left() > 60
    call = actions.do_end_call(call, "hung_up_relative", by="relative")
    # The deadline stays on the record; the time it left is not on offer any more.
    assert call.deadline is not None and call.seconds_left() == 0


def test_the_worker_pass_ends_overdue_calls_even_after_a_restart():
    call = _go_live(start(ready_call()))
    with time_machine.travel(call.deadline + timedelta(milliseconds=300)):
        assert actions.end_overdue() == [call.pk]
    call.refresh_from_db()
    assert call.state == Call.State.ENDED
    assert call.end_reason == "time_up"
    assert not Participant.objects.filter(call=call, left_at__isnull=True).exists()
    call.booking.refresh_from_db()
    assert call.booking.status == "completed"


def test_it_ends_an_unanswered_call_at_the_slot_end_as_no_answer():
    ready = ready_call()
    call = start(ready)
    with time_machine.travel(ready.booking.ends_at + timedelta(seconds=1)):
        actions.end_overdue()
    call.refresh_from_db()
    assert call.state == Call.State.NO_ANSWER


def test_it_charges_used_minutes_only_and_nothing_lost_to_a_media_failure():
    ready = _charged_call_with_credit()
    call = _go_live(start(ready))
    with time_machine.travel(call.started_at + timedelta(minutes=4, seconds=10)):
        actions.do_end_call(call, "media_failure", by="media")
    call.refresh_from_db()
    assert call.state == Call.State.MEDIA_FAILED
    assert call.lost_seconds > 0
    assert call.charged_cents == 50  # 5 started minutes, not the 30 booked
    assert ready.site.detainee.account.balance_cents() == 950


def test_it_refuses_illegal_transitions():
    call = start(ready_call())
    actions.do_end_call(call, "cancelled", by="kiosk")
    call.refresh_from_db()
    assert call.state == Call.State.NO_ANSWER
    # Ending an ended call is a no-op, not a second transition.
    actions.do_end_call(call, "staff", by="x")
    call.refresh_from_db()
    assert call.state == Call.State.NO_ANSWER
    assert call.transitions.count() == 3


def test_a_call_ended_by_the_worker_just_past_its_deadline_costs_no_extra_minute():
    ready = _charged_call_with_credit()
    call = _go_live(start(ready))
    with time_machine.travel(call.deadline + timedelta(milliseconds=300)):
        actions.end_overdue()
    call.refresh_from_db()
    # The minutes up to the deadline, not one more for the worker's 300 ms.
    minutes_to_deadline = math.ceil((call.deadline - call.started_at).total_seconds() / 60)
    assert call.charged_cents == minutes_to_deadline * 10


def test_a_suspension_decided_for_a_few_minutes_later_ends_the_call_when_it_starts():
    ready = ready_call()
    call = _go_live(start(ready))
    supervisor = staff_with_role("supervisor", ready.site.establishment)
    starts_at = call.started_at + timedelta(minutes=2)
    do_suspend(
        ready.site.detainee,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(days=7),
        reason="Incident au parloir",
        actor=supervisor,
    )
    assert actions.end_suspended() == []  # not in force yet
    call.refresh_from_db()
    assert call.state == Call.State.LIVE
    with time_machine.travel(starts_at + timedelta(seconds=1)):
        assert actions.end_suspended() == [call.pk]
    call.refresh_from_db()
    assert (call.state, call.end_reason) == (Call.State.INTERRUPTED, "suspended")


def test_a_contact_revoked_during_the_call_ends_it_and_voids_its_code():
    ready = ready_call()
    call = start(ready)
    clerk = staff_with_role("director", ready.site.establishment)
    do_decide_contact(call.contact, "revoked", reason="Décision du chef", actor=clerk)
    call.refresh_from_db()
    assert (call.state, call.end_reason) == (Call.State.INTERRUPTED, "staff")
    assert call.end_detail == "contact_revoked"
    assert not call.codes.filter(voided_at__isnull=True).exists()


def test_a_long_kiosk_label_or_username_is_kept_whole_in_the_transition_log():
    ready = ready_call()
    ready.device.label = "Borne parloir familial - quartier maison d'arrêt hommes"
    call = actions.do_start_call(ready.booking, device_label=ready.device.label)
    staff = staff_with_role("supervisor", ready.site.establishment)
    staff.username = "prenom.nom-compose@justice.gouv.example.fr"
    staff.save(update_fields=["username"])
    actions.do_end_call(call, "staff", by=staff.get_username(), staff=staff)
    labels = list(call.transitions.values_list("by_label", flat=True))
    assert ready.device.label in labels
    assert staff.get_username() in labels


def test_staff_cannot_end_an_early_call_waiting_for_the_relative_by_cancelling_its_booking():
    ready = ready_call(minutes_into_slot=-3)  # the kiosk may call up to 5 minutes early
    call = start(ready)
    officer = staff_with_role("booking_officer", ready.site.establishment)
    # Ending a call is for staff who control calls, from the call's page (do_interrupt).
    with pytest.raises(ValidationError) as refused:
        do_cancel_booking(ready.booking, reason="Fermeture du parloir", via="staff", actor=officer)
    assert refused.value.code == "call_open"
    call.refresh_from_db()
    assert call.is_open and call.codes.filter(voided_at__isnull=True).exists()


def test_a_relative_who_refuses_monitoring_mid_call_leaves_it_and_the_refusal_is_kept():
    call = _go_live(start(ready_call()))
    actions.do_record_consent(
        call, "monitoring", accepted=False, client_ip="10.0.0.1", user_agent="UA", language="fr"
    )
    call.refresh_from_db()
    assert (call.state, call.end_reason) == (Call.State.ENDED, "hung_up_relative")
    assert call.end_detail == "refused monitoring"
    assert call.consents.filter(kind="monitoring", accepted=False).exists()


def test_the_kiosk_button_pressed_as_the_call_goes_live_hangs_up_instead_of_failing():
    call = start(ready_call())
    seen_by_the_page = Call.objects.get(pk=call.pk)  # read before the call went live
    _go_live(call)
    actions.do_kiosk_hang_up(seen_by_the_page, by="kiosk:Borne 1")
    call.refresh_from_db()
    assert (call.state, call.end_reason) == (Call.State.ENDED, "hung_up_detainee")


def test_a_charged_call_ends_when_the_credit_runs_out_and_says_so_from_the_start():
    ready = _charged_call_with_credit(55)
    call = _go_live(start(ready))
    assert call.deadline - call.started_at == timedelta(minutes=5)  # 55 cents: 5 minutes
    with time_machine.travel(call.deadline + timedelta(milliseconds=300)):
        assert actions.end_overdue() == [call.pk]
    call.refresh_from_db()
    assert (call.state, call.charged_cents) == (Call.State.ENDED, 50)
    assert ready.site.detainee.account.balance_cents() == 5
