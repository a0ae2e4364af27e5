"""people.hooks: the layers above follow a change in people inside its transaction."""

import pytest

from audit.models import AuditEvent
from bookings.models import Booking
from calls.models import Call
from calls.tests.helpers import ready_call, start
from people import hooks
from people.actions import do_change_detainee_status, do_decide_contact
from people.models import AuthorizedContact, ContactDecision, Detainee, Role
from tests.factories import ContactFactory, staff_with_role

pytestmark = pytest.mark.django_db


class LayerAboveFailed(Exception):
    pass


@pytest.fixture
def listener_on():
    """Register a listener for the test only: the hooks outlive it."""
    registered = []

    def register(hook, listener):
        hook.register(listener)
        registered.append((hook, listener))

    yield register
    for hook, listener in registered:
        hook.remove(listener)


def test_a_revocation_rolls_back_when_a_layer_above_cannot_follow_it(listener_on):
    ready = ready_call(minutes_into_slot=-3)
    call = start(ready)
    contact = ready.site.contact
    director = staff_with_role(Role.Name.DIRECTOR, ready.site.establishment)

    def cannot_follow(contact, *, actor):
        raise LayerAboveFailed

    listener_on(hooks.contact_revoked, cannot_follow)
    with pytest.raises(LayerAboveFailed):
        do_decide_contact(contact, "revoked", reason="Menaces", actor=director)
    contact.refresh_from_db()
    call.refresh_from_db()
    # Bookings and calls had followed before the failure: all of it is undone.
    assert contact.status == AuthorizedContact.Status.APPROVED
    assert not ContactDecision.objects.filter(contact=contact).exists()
    assert not AuditEvent.objects.filter(action="contact.revoked").exists()
    assert Booking.objects.get(pk=ready.booking.pk).status == Booking.Status.BOOKED
    assert call.is_open


def test_a_listener_registered_twice_runs_once(listener_on):
    detainee = ContactFactory().detainee
    director = staff_with_role(Role.Name.DIRECTOR, detainee.establishment)
    told = []

    def count(detainee, *, actor):
        told.append((detainee.pk, actor))

    listener_on(hooks.detainee_left, count)
    listener_on(hooks.detainee_left, count)
    do_change_detainee_status(detainee, Detainee.Status.RELEASED, actor=director)
    assert told == [(detainee.pk, director)]


def test_the_booking_of_a_revoked_contact_goes_before_his_other_calls():
    # Bookings listen before calls (INSTALLED_APPS order): the early call of a booking
    # that is cancelled ends as the booking's, like any booking cancelled by staff.
    ready = ready_call(minutes_into_slot=-3)
    call = start(ready)
    director = staff_with_role(Role.Name.DIRECTOR, ready.site.establishment)
    do_decide_contact(ready.site.contact, "revoked", reason="Menaces", actor=director)
    call.refresh_from_db()
    assert (call.state, call.end_reason, call.end_detail) == (
        Call.State.INTERRUPTED,
        Call.EndReason.STAFF,
        "booking_cancelled",
    )
