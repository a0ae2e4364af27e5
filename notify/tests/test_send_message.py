import json

import pytest
from django.db import transaction

from notify.actions import do_send_message
from notify.models import Message
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _read_outbox(settings):
    if not settings.OUTBOX_PATH.exists():
        return []
    return [json.loads(line) for line in settings.OUTBOX_PATH.read_text().splitlines()]


def test_it_texts_a_mobile_and_writes_the_outbox(settings):
    contact = ContactFactory(phone_number="+33612345678", line_type="mobile", language="en")
    with transaction.atomic():
        message = do_send_message(contact, purpose="other", text="Hello")
    message.refresh_from_db()
    assert message.channel == "sms"
    assert message.status == "delivered"
    [line] = _read_outbox(settings)
    assert line["to"] == "+33612345678"
    assert line["channel"] == "sms"
    assert line["language"] == "en"
    assert line["text"] == "Hello"
    assert line["at"]


def test_it_calls_a_landline(settings):
    contact = ContactFactory(phone_number="+33251421100", line_type="landline")
    with transaction.atomic():
        message = do_send_message(contact, purpose="other", text="Bonjour")
    assert Message.objects.get(pk=message.pk).channel == "voice"
    assert _read_outbox(settings)[0]["channel"] == "voice"


def test_it_sends_nothing_when_the_transaction_rolls_back(settings):
    contact = ContactFactory()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        do_send_message(contact, purpose="other", text="never")
        raise Abort
    assert _read_outbox(settings) == []
    assert Message.objects.count() == 0


def test_it_marks_the_message_failed_when_the_outbox_cannot_be_written(settings, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings.OUTBOX_PATH = blocker / "outbox.jsonl"
    contact = ContactFactory()
    with transaction.atomic():
        message = do_send_message(contact, purpose="other", text="x")
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error
