"""SMS straight over SMPP (smpplib) to a real SMSC on loopback (npm `smpp`)."""

import pytest
from django.db import transaction

from notify.actions import do_send_message
from notify.backends import smpp as smpp_backend
from notify.models import Attempt
from tests.factories import ContactFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.telephony]


def _send(number: str, text: str, **kwargs):
    contact = ContactFactory(phone_number=number, **kwargs)
    with transaction.atomic():
        return do_send_message(contact, purpose="other", text=text)


def test_a_message_is_submitted_and_its_receipt_marks_it_delivered(use_smpp, worker, statuses):
    message = _send("+33612345678", "Votre code parloir : 335012 – à bientôt")
    statuses.wait(message.pk, "delivered")
    submit = use_smpp.event("submit")
    assert submit["to"] == "33612345678"
    assert submit["from"] == "parloir"
    assert submit["data_coding"] == 0
    assert submit["registered_delivery"] == 1
    # Decoded by the SMSC's own GSM 03.38 table: "à" is in it; "ô" is not, and rather than
    # the whole text in UCS-2 (70 characters a part) it loses its accent; the dash is made plain.
    assert submit["text"] == "Votre code parloir : 335012 - à bientot"
    message.refresh_from_db()
    assert message.provider_ref == submit["id"]
    assert Attempt.objects.get(message=message).outcome == "delivered"


def test_an_undeliverable_receipt_fails_a_mobile_message(use_smpp, worker, statuses):
    use_smpp.command(cmd="fail", to="33612345600")
    message = _send("+33612345600", "x")
    statuses.wait(message.pk, "failed")
    message.refresh_from_db()
    assert "UNDELIV" in message.error
    assert message.attempts == 1  # the operator said no: another SMS would not do better


def test_a_long_text_goes_in_parts_that_the_smsc_reassembles(use_smpp, worker, statuses):
    text = "Réservation confirmée. " * 12  # 276 GSM characters: two parts
    message = _send("+33612345601", text)
    statuses.wait(message.pk, "delivered")
    parts = use_smpp.events("submit")
    assert len(parts) == 2
    assert [p["registered_delivery"] for p in parts] == [0, 1]
    references = {tuple(p["udh"][0][2:4]) for p in parts}
    assert len(references) == 1  # same message reference, parts 1 and 2 of 2
    assert "".join(p["text"] for p in parts) == text


def test_a_throttled_submission_slows_down_and_still_goes(use_smpp, worker, statuses):
    use_smpp.command(cmd="throttle", count=2)
    message = _send("+33612345602", "après la limite")
    statuses.wait(message.pk, "delivered")
    assert len(use_smpp.events("throttled")) == 2
    [submit] = use_smpp.events("submit")
    assert submit["text"] == "après la limite"


def test_the_link_comes_back_after_a_drop(use_smpp, worker, statuses):
    first = _send("+33612345603", "avant")
    statuses.wait(first.pk, "delivered")
    use_smpp.command(cmd="drop")
    # The reader sees the socket close and binds again, before any message needs it.
    use_smpp.event("bind", timeout=15, after=_index_after(use_smpp, "drop"))
    second = _send("+33612345604", "après")
    statuses.wait(second.pk, "delivered")
    assert use_smpp.events("submit")[-1]["text"] == "après"
    assert smpp_backend.get_link().binds == 2


def test_submissions_are_paced_to_the_operator_rate(use_smpp, worker, statuses, settings):
    settings.SMPP_MAX_PER_SECOND = 4
    smpp_backend.close_link()
    messages = [_send(f"+336123457{n:02d}", f"message {n}") for n in range(6)]
    for message in messages:
        statuses.wait(message.pk, "delivered")
    times = sorted(event["at"] for event in use_smpp.events("submit"))
    # Six submissions at four a second take at least five intervals of 250 ms.
    assert times[-1] - times[0] >= 5 * 250 - 30


def test_a_wrong_password_is_refused_and_nothing_is_sent(use_smpp, worker, statuses, settings):
    settings.SMPP_PASSWORD = "wrong"
    settings.NOTIFY_MAX_ATTEMPTS = 1
    message = _send("+33612345605", "x")
    statuses.wait(message.pk, "failed", timeout=30)
    assert use_smpp.events("bind_refused")
    assert not use_smpp.events("submit")


def _index_after(smsc, kind: str) -> int:
    for index, line in enumerate(smsc.peer.lines):
        if f'"event":"{kind}"' in line:
            return index
    raise AssertionError(f"no {kind} event")
