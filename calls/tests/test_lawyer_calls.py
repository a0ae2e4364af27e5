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
    # The console's watch page refuses it too.
    response = client.get(reverse("console:call_watch", args=[call.pk]))
    assert response.status_code == 403


def test_it_lets_a_monitor_join_a_relatives_call(client):
    """The same scope does resolve for a relative's call: the refusal above is the lawyer's."""
    ready = ready_call()
    call = start(ready)
    principal = resolve_principal(monitor_scope(client, ready), call.pk)
    assert principal is not None and principal.role == "monitor"
