"""A booking whose call is under way: staff stop the call from its page, not by cancelling
the booking, and nobody is marked absent from a call that took place."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from bookings.actions import do_cancel_booking, do_mark_no_show
from bookings.models import Booking
from calls import actions as calls
from calls.models import Call
from calls.tests.helpers import ready_call, start
from notify.models import Message
from people.actions import do_change_detainee_status
from people.models import Role
from tests.factories import sign_in, staff_with_role

pytestmark = pytest.mark.django_db


def refusal(action) -> ValidationError:
    with pytest.raises(ValidationError) as excinfo:
        action()
    return excinfo.value


def live(call: Call) -> Call:
    """Both consents given, both sides joined and publishing: the conversation is on."""
    for kind in ("terms", "privacy", "monitoring"):
        calls.do_record_consent(
            call, kind, accepted=True, client_ip="10.0.0.1", user_agent="UA", language="fr"
        )
    calls.do_relative_waiting(call)
    for role in ("kiosk", "relative"):
        calls.do_join(call, role)
        calls.do_mark_media_up(call, role)
    call.refresh_from_db()
    assert call.state == Call.State.LIVE
    return call


def cancelled_messages() -> int:
    return Message.objects.filter(purpose=Message.Purpose.BOOKING_CANCELLED).count()


# Staff cancellation.


def test_a_booking_officer_cannot_end_a_live_call_by_cancelling_its_booking():
    ready = ready_call()
    call = live(start(ready))
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, ready.site.establishment)
    error = refusal(
        lambda: do_cancel_booking(ready.booking, reason="Fouille", via="staff", actor=officer)
    )
    assert error.code == "call_open"
    assert "page de l'appel" in error.messages[0]
    with translation.override("en"):
        assert "call's page" in ValidationError(error.message).messages[0]
    call.refresh_from_db()
    ready.booking.refresh_from_db()
    assert call.state == Call.State.LIVE
    assert ready.booking.status == Booking.Status.BOOKED
    assert cancelled_messages() == 0  # the relative is not told "cancelled" mid-call


def test_staff_cannot_cancel_while_the_call_waits_but_can_once_it_is_interrupted():
    ready = ready_call(minutes_into_slot=-3)  # an early call, waiting for the relative
    call = start(ready)
    director = staff_with_role(Role.Name.DIRECTOR, ready.site.establishment)
    assert (
        refusal(
            lambda: do_cancel_booking(ready.booking, reason="x", via="staff", actor=director)
        ).code
        == "call_open"
    )
    calls.do_interrupt(call, category="other", reason="Incident", urgent=True, staff=director)
    do_cancel_booking(ready.booking, reason="Incident en détention", via="staff", actor=director)
    ready.booking.refresh_from_db()
    call.refresh_from_db()
    assert ready.booking.status == Booking.Status.CANCELLED
    assert (call.state, call.end_detail) == (Call.State.INTERRUPTED, "other")


def test_the_systems_cancellation_still_ends_the_early_call_on_purpose():
    ready = ready_call(minutes_into_slot=-3)
    call = live(start(ready))
    director = staff_with_role(Role.Name.DIRECTOR, ready.site.establishment)
    do_change_detainee_status(ready.site.detainee, "transferred", actor=director)
    ready.booking.refresh_from_db()
    call.refresh_from_db()
    assert ready.booking.status == Booking.Status.CANCELLED
    assert (call.state, call.end_detail) == (Call.State.INTERRUPTED, "booking_cancelled")


# The detainee's own cancellation at the kiosk.


def test_the_kiosk_cancellation_still_ends_an_early_call_that_has_not_begun():
    ready = ready_call(minutes_into_slot=-3, cancel_notice_minutes=0)
    call = start(ready)
    do_cancel_booking(ready.booking, reason="Annulé depuis la borne", via="kiosk")
    call.refresh_from_db()
    assert (call.state, call.end_reason) == (Call.State.NO_ANSWER, "cancelled")


def test_the_kiosk_cannot_cancel_a_live_call_the_detainee_hangs_up_instead():
    ready = ready_call(minutes_into_slot=-3, cancel_notice_minutes=0)
    call = live(start(ready))
    error = refusal(lambda: do_cancel_booking(ready.booking, reason="x", via="kiosk"))
    assert error.code == "call_live"
    assert "raccrochez" in error.messages[0]
    call.refresh_from_db()
    assert call.state == Call.State.LIVE
    assert cancelled_messages() == 0


# Absences.


def test_no_absence_is_recorded_during_a_live_call_nor_after_it():
    ready = ready_call()
    call = live(start(ready))
    guard = staff_with_role(Role.Name.GUARD, ready.site.establishment)
    error = refusal(lambda: do_mark_no_show(ready.booking, actor=guard))
    assert error.code == "call_held"
    assert "absente" in error.messages[0]
    with translation.override("en"):
        assert "absent" in ValidationError(error.message).messages[0]
    ready.booking.refresh_from_db()
    assert ready.booking.status == Booking.Status.BOOKED
    calls.do_end_call(call, "hung_up_relative", by="relative")
    ready.booking.refresh_from_db()
    assert ready.booking.status == Booking.Status.COMPLETED


def test_no_absence_while_the_call_waits_for_the_relative():
    ready = ready_call()
    start(ready)
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, ready.site.establishment)
    assert refusal(lambda: do_mark_no_show(ready.booking, actor=officer)).code == "call_held"


@pytest.mark.parametrize(
    "reason,absence",
    [
        ("no_answer", True),  # the relative never joined
        ("cancelled", True),  # the detainee gave up before it connected
        ("refused_monitoring", True),  # the relative refused: no conversation
        ("staff", False),  # staff stopped a detainee who was there
        ("media_failure", False),  # the platform's fault, not an absence
    ],
)
def test_a_call_that_never_connected_leaves_room_for_an_absence(reason, absence):
    ready = ready_call()
    call = start(ready)
    calls.do_end_call(call, reason, by="test")
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, ready.site.establishment)
    if absence:
        do_mark_no_show(ready.booking, actor=officer, reason="Pas de conversation")
        ready.booking.refresh_from_db()
        assert ready.booking.status == Booking.Status.NO_SHOW
    else:
        assert refusal(lambda: do_mark_no_show(ready.booking, actor=officer)).code == "call_held"


# The console's booking page.


def test_the_booking_page_hides_cancel_and_absent_while_the_call_is_live(client):
    ready = ready_call()
    live(start(ready))
    url = reverse("console:booking_detail", args=[ready.booking.pk])
    sign_in(client, staff_with_role(Role.Name.BOOKING_OFFICER, ready.site.establishment))
    page = client.get(url).content.decode()
    assert reverse("console:booking_cancel", args=[ready.booking.pk]) not in page
    assert reverse("console:booking_no_show", args=[ready.booking.pk]) not in page
    assert 'id="cancel-blocked"' in page and "page de l&#x27;appel" in page
    # A booking officer may not watch the call: no link to a page he cannot open.
    assert reverse("console:call_watch", args=[ready.booking.call.pk]) not in page
    response = client.post(
        reverse("console:booking_cancel", args=[ready.booking.pk]), {"reason": "x"}, follow=True
    )
    assert "page de l&#x27;appel" in response.content.decode()
    ready.booking.refresh_from_db()
    assert ready.booking.status == Booking.Status.BOOKED


def test_the_booking_page_leads_a_supervisor_to_the_calls_page(client):
    ready = ready_call()
    call = live(start(ready))
    sign_in(client, staff_with_role(Role.Name.SUPERVISOR, ready.site.establishment))
    page = client.get(reverse("console:booking_detail", args=[ready.booking.pk])).content.decode()
    assert f'<a href="{reverse("console:call_watch", args=[call.pk])}">' in page
    assert reverse("console:booking_no_show", args=[ready.booking.pk]) not in page


def test_the_booking_page_offers_cancel_and_absent_once_a_call_went_unanswered(client):
    ready = ready_call()
    calls.do_end_call(start(ready), "no_answer", by="worker")
    sign_in(client, staff_with_role(Role.Name.BOOKING_OFFICER, ready.site.establishment))
    page = client.get(reverse("console:booking_detail", args=[ready.booking.pk])).content.decode()
    assert reverse("console:booking_cancel", args=[ready.booking.pk]) in page
    assert reverse("console:booking_no_show", args=[ready.booking.pk]) in page
    assert 'id="cancel-blocked"' not in page


def test_a_booking_whose_early_call_is_open_cannot_be_moved():
    from bookings.actions import do_move_booking
    from bookings.availability import free_slots

    ready = ready_call(minutes_into_slot=-3)  # the kiosk may call up to 5 minutes early
    call = start(ready)
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, ready.site.establishment)
    today = timezone.localdate(timezone=ready.site.establishment.zone)
    free = free_slots(ready.site.detainee, today, today + timedelta(days=7), via="staff")
    later = next(slot.starts_at for slot in free if slot.starts_at > ready.booking.ends_at)
    error = refusal(
        lambda: do_move_booking(ready.booking, starts_at=later, via="staff", actor=officer)
    )
    assert error.code == "call_open"
    ready.booking.refresh_from_db()
    assert ready.booking.starts_at < later and Call.objects.get(pk=call.pk).is_open


def test_a_closure_added_by_staff_leaves_an_early_call_and_its_booking_alone():
    from bookings.actions import do_add_closure

    ready = ready_call(minutes_into_slot=-3)  # the kiosk may call up to 5 minutes early
    call = live(start(ready))
    officer = staff_with_role(Role.Name.BOOKING_OFFICER, ready.site.establishment)
    do_add_closure(
        ready.site.establishment,
        kind="exceptional",
        starts=ready.booking.starts_at - timedelta(hours=1),
        ends=ready.booking.ends_at + timedelta(hours=1),
        reason="Travaux",
        actor=officer,
        room=ready.site.room,
    )
    ready.booking.refresh_from_db()
    assert ready.booking.status == Booking.Status.BOOKED
    assert Call.objects.get(pk=call.pk).state == Call.State.LIVE
    assert cancelled_messages() == 0
