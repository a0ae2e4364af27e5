"""Issue #17, finding 2: a used code lets back in only the browser that used it; a new
device needs a new code, sent to the relative's phone, and reads the consents again."""

import json
from datetime import timedelta

import pytest
from django.test import Client

from calls import codes
from calls.models import Call, CallCode
from calls.tests.helpers import ready_call, sent_code, start

pytestmark = pytest.mark.django_db(transaction=True)


def _join(client: Client, call: Call, code: str) -> None:
    assert client.post(f"/j/{call.link_token}", {"code": code})["Location"] == "/conditions"
    assert client.post("/conditions", {"decision": "accept"})["Location"] == "/surveillance"
    assert client.post("/surveillance", {"decision": "accept"})["Location"] == "/appel"
    assert client.get("/appel").status_code == 200


def test_a_used_code_does_not_let_another_browser_in(settings):
    call = start(ready_call())
    code = sent_code(settings)
    _join(Client(), call, code)
    other = Client()
    response = other.post(f"/j/{call.link_token}", {"code": code})
    assert response.status_code == 400
    response = other.post("/", {"code": code})
    assert response.status_code == 400
    assert other.get("/appel")["Location"] == "/"


def test_the_same_browser_comes_back_without_a_new_code_nor_the_consents(settings):
    call = start(ready_call())
    code = sent_code(settings)
    browser = Client()
    _join(browser, call, code)
    # The tab was closed and the session lost; the seat cookie stays with the browser.
    browser.cookies.pop("sessionid")
    assert browser.get("/appel")["Location"] == "/"
    response = browser.post(f"/j/{call.link_token}", {"code": code})
    assert response["Location"] == "/appel"
    assert browser.get("/appel").status_code == 200


def test_a_new_device_gets_a_new_code_on_the_phone_reads_the_consents_and_takes_the_seat(
    settings, time_machine
):
    call = start(ready_call())
    code = sent_code(settings)
    first = Client()
    _join(first, call, code)
    lines = len(settings.OUTBOX_PATH.read_text().splitlines())

    second = Client()
    response = second.post(f"/j/{call.link_token}/nouveau-code")
    assert response["Location"] == f"/j/{call.link_token}?nouveau=1"
    messages = settings.OUTBOX_PATH.read_text().splitlines()
    assert len(messages) == lines + 1
    assert json.loads(messages[-1])["to"] == call.contact.phone_number
    new_code = sent_code(settings)
    assert new_code != code

    response = second.post(f"/j/{call.link_token}", {"code": new_code})
    assert response["Location"] == "/conditions"
    # Not in the call before the consents, on this device: sent to them.
    assert second.get("/appel")["Location"] == "/conditions"
    assert second.post("/conditions", {"decision": "accept"})["Location"] == "/surveillance"
    assert second.post("/surveillance", {"decision": "accept"})["Location"] == "/appel"
    assert second.get("/appel").status_code == 200
    # One seat: the first browser is out, and its old code no longer works for it; its
    # end page says that the call goes on elsewhere.
    assert first.get("/appel")["Location"] == "/"
    assert "Appel ouvert ailleurs" in first.get("/fin?ailleurs=1").content.decode()
    assert first.post(f"/j/{call.link_token}", {"code": code}).status_code == 400
    assert CallCode.objects.filter(call=call, requested_by_relative=True).count() == 1


def test_a_relative_cannot_have_codes_sent_again_and_again(settings, time_machine):
    call = start(ready_call())
    outbox = settings.OUTBOX_PATH
    sent = len(outbox.read_text().splitlines())
    browser = Client()

    def ask(after_seconds: int) -> int:
        time_machine.move_to(call.created_at + timedelta(seconds=after_seconds))
        browser.post(f"/j/{call.link_token}/nouveau-code")
        return len(outbox.read_text().splitlines()) - sent

    assert ask(1) == 1
    assert ask(2) == 1  # one a minute
    assert [ask(62), ask(123), ask(184), ask(245)] == [2, 3, 3, 3]  # three a call
    assert codes.MAX_RELATIVE_REQUESTS_PER_CALL == 3


def test_the_call_socket_refuses_a_new_device_until_it_has_given_the_consents(
    settings, time_machine
):
    """The relative consented on the first device; the second has not, on its own."""
    from asgiref.sync import async_to_sync

    from calls.tests.helpers import relative_socket

    call = start(ready_call())
    _join(Client(), call, sent_code(settings))
    browser = Client()
    browser.post(f"/j/{call.link_token}/nouveau-code")
    assert browser.post(f"/j/{call.link_token}", {"code": sent_code(settings)}).status_code == 302

    async def hello():
        communicator = await relative_socket(browser)
        await communicator.send_to(text_data=json.dumps({"type": "hello", "call": call.pk}))
        frame = json.loads(await communicator.receive_from(timeout=5))
        await communicator.disconnect()
        return frame

    frame = async_to_sync(hello)()
    assert (frame["type"], frame["code"]) == ("error", "forbidden")
