"""The delivery bookkeeping on the embedded outbox: claims, retries, fallback, reports,
and what the kiosk hears. The gateways themselves are tested in tests/telephony."""

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from calls import actions as call_actions
from calls import codes
from calls.tests.helpers import ready_call, start
from notify import kannel
from notify.actions import backend_for, claim, do_report_delivery, do_send_message, record
from notify.backends.base import Outcome
from notify.models import Attempt, Message
from parloir.env import ConfigurationError
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _queued(contact=None, **kwargs) -> Message:
    contact = contact or ContactFactory()
    fields = {
        "establishment": contact.detainee.establishment,
        "contact": contact,
        "to_number": contact.phone_number,
        "channel": "sms",
        "language": "fr",
        "purpose": "other",
        "text": "x",
        "backend": "kannel",
    }
    fields.update(kwargs)
    return Message.objects.create(**fields)


def test_a_message_is_claimed_by_one_worker_only():
    message = _queued()
    assert claim(message.pk) is not None
    assert claim(message.pk) is None
    message.refresh_from_db()
    assert message.attempts == 1 and message.claimed_until > timezone.now()


def test_a_message_past_its_validity_is_not_sent():
    message = _queued(valid_until=timezone.now() - timedelta(seconds=1))
    assert claim(message.pk) is None
    message.refresh_from_db()
    assert message.status == "failed" and "expiré" in message.error
    assert not Attempt.objects.filter(message=message).exists()


def test_the_message_of_a_replaced_code_is_not_sent(settings):
    settings.SMS_BACKEND = "kannel"  # queued for the worker, which is not running
    ready = ready_call()
    call = start(ready)
    first = call.codes.get().message
    call_actions.do_send_new_code(call, device_label=ready.device.label)
    assert claim(first.pk) is None
    first.refresh_from_db()
    assert first.status == "failed"
    second = call.codes.filter(voided_at__isnull=True).get().message
    assert second.spoken_digits and second.spoken_digits != first.spoken_digits
    # The new code's message goes on (claimable here, or already taken by a worker).
    second.refresh_from_db()
    assert second.status != "failed"


def test_the_kiosk_hears_queued_then_delivered_for_the_code():
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    ready = ready_call()
    call = start(ready)
    # The first code's events left at commit: listen, then ask for a new code.
    async_to_sync(layer.group_add)(f"call.{call.pk}", channel)
    call_actions.do_send_new_code(call, device_label=ready.device.label)
    events = []
    while "delivered" not in events:
        event = async_to_sync(layer.receive)(channel)["event"]
        if event["type"] == "call.code":
            events.append(event["message_status"])
    assert events == ["queued", "delivered"]


def test_the_code_text_and_digits_travel_with_the_message(settings):
    ready = ready_call()
    call = start(ready)
    message = call.codes.get().message
    line = json.loads(settings.OUTBOX_PATH.read_text().splitlines()[-1])
    assert line["text"].endswith(message.spoken_digits)
    assert (
        len(message.spoken_digits) == codes.CODE_DIGITS
        and message.valid_until == call.codes.get().expires_at
    )


def _signed(message, attempt=1, **extra):
    return {
        "m": message.pk,
        "a": attempt,
        "s": kannel.dlr_signature(message.pk, attempt),
        **extra,
    }


def test_a_signed_delivery_report_marks_the_sms_delivered(client, settings):
    settings.KANNEL_DLR_TOKEN = "token"
    message = _queued(status="sent", attempts=1)
    Attempt.objects.create(message=message, channel="sms", backend="kannel", outcome="accepted")
    response = client.get("/notify/kannel/dlr", _signed(message, t=1, r="ok"))
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"
    assert Attempt.objects.get(message=message).outcome == "delivered"


def test_a_report_for_an_earlier_attempt_changes_nothing(client, settings):
    settings.KANNEL_DLR_TOKEN = "token"
    message = _queued(status="sent", attempts=2)
    client.get("/notify/kannel/dlr", _signed(message, attempt=1, t=16))
    message.refresh_from_db()
    assert message.status == "sent"


def test_a_failed_report_on_an_ambiguous_line_falls_back_to_a_voice_call(client, settings):
    settings.KANNEL_DLR_TOKEN = "token"
    settings.VOICE_BACKEND = "outbox"
    contact = ContactFactory(line_type="ambiguous", phone_number="+12025550143")
    message = _queued(contact, status="sent", attempts=1, fallback_channel="voice",
                      spoken_digits="123456")  # fmt: skip
    client.get("/notify/kannel/dlr", _signed(message, t=2, r="NACK"))
    message.refresh_from_db()
    assert (message.channel, message.status, message.backend) == ("voice", "delivered", "outbox")
    line = json.loads(settings.OUTBOX_PATH.read_text().splitlines()[-1])
    assert line["channel"] == "voice"


def test_ambiguous_lines_are_texted_first_with_voice_as_fallback():
    contact = ContactFactory(line_type="ambiguous", phone_number="+12025550143")
    with transaction.atomic():
        message = do_send_message(contact, purpose="other", text="x")
    assert (message.channel, message.fallback_channel) == ("sms", "voice")


def test_a_channel_refuses_a_backend_of_the_other_channel(settings):
    settings.SMS_BACKEND = "sip"
    with pytest.raises(LookupError, match="cannot carry sms"):
        backend_for("sms")


def test_kannel_configuration_is_rendered_and_refuses_injection(tmp_path):
    config = kannel.KannelConfig(
        username="parloir",
        password="pw",
        admin_port=13000,
        smsbox_port=13001,
        sendsms_port=13013,
        smsc_port=13002,
        log_dir=tmp_path / "log",
        store_file=tmp_path / "store",
    )
    text = kannel.render(config, tmp_path / "kannel.conf").read_text()
    assert "smsc = fake" in text and 'password = "pw"' in text
    assert (tmp_path / "kannel.conf").stat().st_mode & 0o077 == 0
    bad = kannel.KannelConfig(**{**config.__dict__, "password": 'x"\ngroup = core'})
    with pytest.raises(ConfigurationError):
        kannel.render(bad, tmp_path / "bad.conf")


def test_a_delivery_report_that_overtakes_the_gateways_answer_has_the_last_word():
    """Kannel may report delivery before its 202 to the send reaches the worker: the
    attempt, like the message, stays delivered."""
    message = _queued()
    _message, attempt = claim(message.pk)
    do_report_delivery(delivered=True, detail="DELIVRD", message_id=message.pk, attempt=1)
    record(message.pk, attempt.pk, Outcome(ok=True, provider_ref="kannel-ref"))
    message.refresh_from_db()
    attempt.refresh_from_db()
    assert message.status == "delivered" and message.claimed_until is None
    assert attempt.outcome == "delivered" and attempt.detail == "DELIVRD"
    assert attempt.finished_at is not None and attempt.provider_ref == "kannel-ref"


def test_a_second_voice_call_to_a_line_waits_until_the_first_is_over():
    contact = ContactFactory()
    first = _queued(contact, channel="voice", backend="sip")
    second = _queued(contact, channel="voice", backend="sip")
    sms = _queued(contact)
    _message, attempt = claim(first.pk)
    # A landline would ring busy: the second call is not tried, and keeps its tries.
    assert claim(second.pk) is None
    second.refresh_from_db()
    assert (second.status, second.attempts) == ("queued", 0)
    assert claim(sms.pk) is not None  # an SMS does not take the line
    record(first.pk, attempt.pk, Outcome(ok=True, delivered=True))
    assert claim(second.pk) is not None
