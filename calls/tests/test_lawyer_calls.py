"""Calls with lawyers are never recorded nor monitored, whatever room they take place in."""

import pytest
from django.urls import reverse

from bookings.tests.factories import booking_row
from calls.consumers import resolve_principal
from calls.tests.helpers import ready_call, start
from people.models import AuthorizedContact
from tests.factories import ContactFactory, sign_in, staff_with_role

pytestmark = pytest.mark.django_db


def lawyer_call_in_a_family_room():
    """A lawyer's call booked in a room not (or no longer) reserved for lawyers."""
    ready = ready_call()
    assert not ready.site.room.for_lawyers
    lawyer = ContactFactory(
        detainee=ready.site.detainee, relationship=AuthorizedContact.Relationship.LAWYER
    )
    # Written straight to the table: the booking may predate an untick of the room's
    # "réservé aux avocats" flag, which do_book would not let be booked today.
    ready.booking.delete()
    ready.booking = booking_row(ready.site, ready.booking.starts_at, contact=lawyer)
    return ready


def test_it_does_not_record_a_lawyers_call_in_a_family_room():
    call = start(lawyer_call_in_a_family_room())
    call.refresh_from_db()
    assert call.recorded is False


def test_it_still_records_a_relatives_call_in_a_family_room():
    call = start(ready_call())
    assert call.recorded is True


def monitor_scope(client, ready) -> dict:
    """The socket scope of a guard of the call's establishment, signed in with his second
    factor: everything the monitor's side needs but for the call being watchable."""
    guard = staff_with_role("guard", ready.site.establishment)
    sign_in(client, guard)
    return {"session": client.session, "cookies": {}, "user": guard}


def test_it_lets_no_monitor_join_a_lawyers_call_in_a_family_room(client):
    ready = lawyer_call_in_a_family_room()
    call = start(ready)
    assert resolve_principal(monitor_scope(client, ready), call.pk) is None
    # The console's call page shows no media for it, only what staff need to stop it.
    page = client.get(reverse("console:call_watch", args=[call.pk])).content.decode()
    assert 'id="watch"' not in page and 'id="watch-detainee"' not in page
    assert 'id="not-monitorable"' in page


def test_staff_who_control_calls_can_still_stop_a_lawyers_call(client):
    """Its booking cannot be cancelled while the call is open: the call's page is where
    it is stopped, media or not."""
    from calls.models import Call

    ready = lawyer_call_in_a_family_room()
    call = start(ready)
    supervisor = staff_with_role("supervisor", ready.site.establishment)
    sign_in(client, supervisor)
    page = client.get(reverse("console:call_watch", args=[call.pk])).content.decode()
    assert reverse("console:call_interrupt", args=[call.pk]) in page
    client.post(
        reverse("console:call_interrupt", args=[call.pk]),
        {"category": "security", "reason": "Incident", "urgent": "1"},
    )
    call.refresh_from_db()
    assert call.state == Call.State.INTERRUPTED


def test_it_lets_a_monitor_join_a_relatives_call(client):
    """The same scope does resolve for a relative's call: the refusal above is the lawyer's."""
    ready = ready_call()
    call = start(ready)
    principal = resolve_principal(monitor_scope(client, ready), call.pk)
    assert principal is not None and principal.role == "monitor"
