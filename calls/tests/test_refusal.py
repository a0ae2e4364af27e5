"""A relative who refuses a consent, or lets the code expire, does not burn the slot."""

from datetime import timedelta
from html import unescape

import pytest
import time_machine

from calls import actions
from calls.access import KIOSK_COOKIE
from calls.models import Call, CallCode
from calls.tests.helpers import ready_call, start

pytestmark = pytest.mark.django_db(transaction=True)


def _refuse(call, kind="monitoring"):
    for accepted_kind in ("terms", "privacy"):
        if accepted_kind == kind:
            break
        actions.do_record_consent(
            call, accepted_kind, accepted=True, client_ip="10.0.0.1", user_agent="UA",
            language="fr",
        )  # fmt: skip
    actions.do_record_consent(
        call, kind, accepted=False, client_ip="10.0.0.1", user_agent="UA", language="fr"
    )
    return Call.objects.get(pk=call.pk)


@pytest.mark.parametrize("kind", ["terms", "monitoring"])
def test_it_lets_the_detainee_call_again_after_a_refusal(kind):
    ready = ready_call()
    call = _refuse(start(ready), kind)
    assert call.state == Call.State.BOOKED
    assert call.transitions.last().detail == f"refused {kind}"

    again = start(ready)
    assert again.pk == call.pk
    assert again.state == Call.State.CODE_SENT
    live_codes = CallCode.objects.filter(call=call, voided_at__isnull=True)
    assert live_codes.count() == 1  # a new one; the refused one died with the refusal


def test_the_kiosk_new_code_button_calls_again_after_a_refusal():
    ready = ready_call()
    call = _refuse(start(ready))
    actions.do_send_new_code(call, device_label=ready.device.label)
    call.refresh_from_db()
    assert call.state == Call.State.CODE_SENT
    assert [t.to_state for t in call.transitions.all()][-3:] == ["booked", "calling", "code_sent"]


def test_a_refused_call_ends_as_refused_when_its_slot_ends():
    ready = ready_call(minutes_into_slot=1, slot_minutes=30)
    call = _refuse(start(ready))
    with time_machine.travel(ready.booking.ends_at + timedelta(seconds=1), tick=False):
        assert actions.end_overdue() == [call.pk]
    call.refresh_from_db()
    assert call.state == Call.State.REFUSED
    assert call.end_reason == Call.EndReason.REFUSED_MONITORING


def test_an_expired_code_is_replaced_by_calling_again():
    ready = ready_call()
    call = start(ready)
    first = call.codes.get()
    with time_machine.travel(first.expires_at + timedelta(seconds=1), tick=False):
        again = start(ready)
    assert again.state == Call.State.CODE_SENT
    assert call.codes.filter(voided_at__isnull=True).exclude(pk=first.pk).count() == 1
    assert CallCode.objects.get(pk=first.pk).voided_at is not None


def test_the_kiosk_home_offers_appeler_again_after_a_refusal(client):
    ready = ready_call()
    _refuse(start(ready))
    client.cookies[KIOSK_COOKIE] = ready.credential
    detainee = ready.site.detainee
    response = client.post("/kiosk/", {"prison_number": detainee.prison_number, "pin": "1234"})
    assert response["Location"] == "/kiosk/accueil"
    page = client.get("/kiosk/accueil").content.decode()
    assert "Revenir à l'appel" not in unescape(page)
    assert f'name="booking" value="{ready.booking.pk}"' in page
    response = client.post("/kiosk/appel", {"booking": ready.booking.pk})
    call = Call.objects.get(booking=ready.booking)
    assert response["Location"] == f"/kiosk/appel/{call.pk}"
    assert call.state == Call.State.CODE_SENT


def test_the_relative_who_refused_is_told_the_detainee_may_call_again(client, settings):
    from calls.tests.helpers import sent_code

    ready = ready_call()
    call = start(ready)
    response = client.post(f"/j/{call.link_token}", {"code": sent_code(settings)})
    assert response["Location"] == "/conditions"
    response = client.post("/conditions", {"decision": "reject"})
    assert response["Location"] == "/fin"
    page = unescape(client.get("/fin").content.decode())
    assert "vous recevrez alors un nouveau code" in page
    # This browser is out of the call: going back to the consent pages does not let it in.
    assert client.get("/conditions")["Location"] == "/"
    assert Call.objects.get(pk=call.pk).state == Call.State.BOOKED


def test_the_browser_that_refused_is_told_why_its_code_no_longer_works(client, settings):
    from calls.tests.helpers import sent_code

    ready = ready_call()
    call = start(ready)
    code = sent_code(settings)
    client.post(f"/j/{call.link_token}", {"code": code})
    client.post("/conditions", {"decision": "reject"})
    again = client.post(f"/j/{call.link_token}", {"code": code})
    assert again.status_code == 400
    assert "Vous avez refusé les conditions" in unescape(again.content.decode())
    # Any other browser reads the one message for every refused code.
    from django.test import Client

    other = Client().post(f"/j/{call.link_token}", {"code": code})
    assert "Vous avez refusé" not in unescape(other.content.decode())
