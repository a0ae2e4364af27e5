"""A call's code sent through a real Kannel: Kannel's log files (as deploy/kannel configures
them) and parloir's own log hold neither the code, nor the number, nor the call link."""

import pytest

from calls.models import CallCode
from calls.tests.helpers import ready_call, start
from privacy.tests.logcapture import parloir_log

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.telephony]

NUMBER = "+33612345678"


def test_kannel_and_parloir_log_no_code_number_or_link(use_kannel, worker, statuses):
    with parloir_log() as output:
        ready = ready_call()
        contact = ready.booking.contact
        contact.phone_number, contact.line_type = NUMBER, "mobile"
        contact.save()
        call = start(ready)
        message = CallCode.objects.get(call=call).message
        statuses.wait(message.pk, "delivered")
        assert use_kannel.received()[1] == NUMBER  # it did go through Kannel

    logs = {
        path.name: path.read_text(errors="replace") for path in use_kannel.config.log_dir.iterdir()
    }
    assert logs["access.log"].strip(), logs  # Kannel did log the message, without the rest
    logs["parloir"] = output.getvalue()
    secrets = (message.spoken_digits, NUMBER, NUMBER[1:], call.link_token)
    leaks = {name: [s for s in secrets if s in text] for name, text in logs.items()}
    assert {name: found for name, found in leaks.items() if found} == {}, logs
