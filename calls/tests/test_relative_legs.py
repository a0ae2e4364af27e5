"""A call's relatives are legs of their own (issue #19): a call has one per contact its
booking names (one today), and its codes, consents and relative pages belong to it."""

import importlib

import pytest
from django.apps import apps

from calls import actions
from calls.models import CallCode, CallRelative, Consent, Participant
from calls.tests.helpers import ready_call, start

pytestmark = pytest.mark.django_db(transaction=True)


def _consent(call, kind="terms"):
    actions.do_record_consent(
        call, kind, accepted=True, client_ip="10.0.0.1", user_agent="UA", language="fr"
    )


def test_appeler_gives_the_call_a_leg_for_its_contact_and_ties_everything_to_it():
    ready = ready_call()
    call = start(ready)
    [leg] = CallRelative.objects.filter(call=call)
    assert (leg.contact, leg.position) == (ready.site.contact, 0)
    assert call.codes.get().relative == leg
    _consent(call)
    assert call.consents.get().relative == leg
    relative, _token = actions.do_join(call, Participant.Role.RELATIVE)
    kiosk, _token = actions.do_join(call, Participant.Role.KIOSK)
    assert relative.relative == leg and kiosk.relative is None
    # Calling again in the same slot (after a refusal, a new code) keeps the same leg.
    actions.do_send_new_code(call, device_label=ready.device.label)
    assert CallRelative.objects.filter(call=call).count() == 1
    assert set(call.codes.values_list("relative", flat=True)) == {leg.pk}


def test_the_migration_gives_every_earlier_call_its_leg():
    ready = ready_call()
    call = start(ready)
    _consent(call)
    actions.do_join(call, Participant.Role.RELATIVE)
    actions.do_join(call, Participant.Role.KIOSK)
    # As the call stood before legs existed.
    CallCode.objects.update(relative=None)
    Consent.objects.update(relative=None)
    Participant.objects.update(relative=None)
    CallRelative.objects.all().delete()

    migration = importlib.import_module("calls.migrations.0009_relative_legs")
    migration.legs_from_contacts(apps, None)

    [leg] = CallRelative.objects.filter(call=call)
    assert (leg.contact_id, leg.position) == (ready.site.contact.pk, 0)
    assert set(CallCode.objects.values_list("relative", flat=True)) == {leg.pk}
    assert set(Consent.objects.values_list("relative", flat=True)) == {leg.pk}
    assert dict(Participant.objects.values_list("role", "relative")) == {
        "relative": leg.pk,
        "kiosk": None,
    }
