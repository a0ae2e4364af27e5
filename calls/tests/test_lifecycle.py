from datetime import timedelta

import pytest
import time_machine

from calls import actions
from calls.models import Call, Participant
from calls.tests.helpers import ready_call, start
from people.models import LedgerEntry

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


def test_it_ends_the_call_as_refused_when_monitoring_is_refused():
    call = start(ready_call())
    _consent_all(call, accept_monitoring=False)
    call.refresh_from_db()
    assert call.state == Call.State.REFUSED
    assert call.end_reason == "refused_monitoring"


def test_it_goes_live_when_both_sides_publish_and_sets_the_call_length():
    ready = ready_call(minutes_into_slot=1, slot_minutes=30)
    establishment = ready.site.establishment
    establishment.call_minutes = 20
    establishment.save(update_fields=["call_minutes"])
    call = _go_live(start(ready))
    assert call.state == Call.State.LIVE
    assert call.deadline - call.started_at == timedelta(minutes=20)


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
    ready = ready_call()
    establishment = ready.site.establishment
    establishment.price_per_minute_cents = 10
    establishment.save(update_fields=["price_per_minute_cents"])
    LedgerEntry.objects.create(
        account=ready.site.detainee.account, amount_cents=1000, kind="credit", label="x"
    )
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
