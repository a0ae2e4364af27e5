"""No code, phone number or call link in the logs: a call's whole flow through the real
pages, the notify worker's pass and the call worker, with the log handler that
settings.LOGGING installs writing into a buffer that is then searched."""

import logging

import pytest

from calls import actions
from calls.models import Call
from calls.tests.helpers import ready_call, sent_code, start
from notify.models import Message
from parloir.logmask import mask_number, redact
from privacy.tests.logcapture import parloir_log

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "+33612345678"


@pytest.fixture
def log_output():
    with parloir_log() as buffer:
        yield buffer


def test_a_whole_call_leaves_no_code_number_or_link_in_the_logs(client, settings, log_output):
    ready = ready_call()
    contact = ready.booking.contact
    contact.phone_number = NUMBER
    contact.save()
    call = start(ready)
    code = sent_code(settings)
    # A wrong code, a link that does not exist, then the right code and the consents.
    client.post(f"/j/{call.link_token}", {"code": "0" * len(code)}, REMOTE_ADDR="192.0.2.9")
    client.get(f"/j/{call.link_token}/inconnu")
    client.post(f"/j/{call.link_token}", {"code": code}, REMOTE_ADDR="192.0.2.9")
    client.post("/conditions", {"decision": "accept"})
    client.post("/surveillance", {"decision": "accept"})
    actions.do_end_call(Call.objects.get(pk=call.pk), Call.EndReason.TIME_UP, by="test")
    # And an exception whose text carries the number, as a library's might.
    try:
        raise ValueError(f"gateway refused {NUMBER}: {Message.objects.first().text}")
    except ValueError:
        logging.getLogger("notify").exception("Backend failed")

    output = log_output.getvalue()
    assert "Not Found" in output and "Backend failed" in output
    leaks = [s for s in (code, NUMBER, NUMBER[1:], call.link_token) if s in output]
    assert leaks == [], output
    assert mask_number(NUMBER) in output


def test_numbers_are_masked_keeping_country_and_line_kind():
    assert mask_number("+33612345678") == "+33 6 •• •• •• 78"
    assert mask_number("+33251421100") == "+33 2 •• •• •• 00"
    assert redact("to sip:+33612345678@gw;user=phone") == "to sip:+336••••••78@gw;user=phone"
    assert redact("GET /j/AbC-12_x#0123456789 HTTP/1.1") == "GET /j/•••••• HTTP/1.1"
    # Ids stay readable: a room, a call, a message.
    assert redact("le code 0123456789.") == "le code ••••••."
    assert redact("room 1234567890123 of call 42") == "room 1234567890123 of call 42"
