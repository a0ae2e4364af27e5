"""SMS through a real Kannel (bearerbox + smsbox) and its test SMSC, fakesmsc."""

import pytest
from django.db import transaction

from calls.models import CallCode
from calls.tests.helpers import ready_call, start
from notify import sms
from notify.actions import do_send_message
from notify.models import Attempt, Message
from tests.factories import ContactFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.telephony]


def test_the_code_of_a_call_reaches_the_smsc_and_its_delivery_is_reported(
    use_kannel, worker, statuses, settings
):
    settings.SITE_URL = "https://parloir.justice.gouv.fr"
    ready = ready_call()
    contact = ready.booking.contact
    contact.phone_number, contact.line_type = "+33612345678", "mobile"
    contact.save()
    call = start(ready)
    code = CallCode.objects.get(call=call)
    message = code.message
    statuses.wait(message.pk, "delivered")

    sender, receiver, text = use_kannel.received()
    assert (sender, receiver) == ("parloir", "+33612345678")
    assert text == message.text
    assert text.endswith(message.spoken_digits)
    assert f"/j/{call.link_token}#{message.spoken_digits}" in text
    assert sms.shape(text).segments == 1
    # The kiosk heard each step: accepted by Kannel, then delivered (the fake SMSC's report
    # may even overtake Kannel's 202: then "delivered" alone).
    assert [s for s, _c in statuses.statuses(message.pk)] in (["sent", "delivered"], ["delivered"])
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at and message.sent_at
    [attempt] = Attempt.objects.filter(message=message)
    assert attempt.outcome == "delivered" and attempt.backend == "kannel"


def test_a_text_outside_gsm_goes_as_ucs2_and_arrives_intact(use_kannel, worker, statuses):
    contact = ContactFactory(phone_number="+33612345679", language="ru")
    text = "Бронирование: видеозвонок в 14:00. Код 482913"
    with transaction.atomic():
        message = do_send_message(contact, purpose="other", text=text)
    statuses.wait(message.pk, "delivered")
    assert use_kannel.received()[2] == text


def test_typographic_punctuation_is_made_plain_to_stay_in_gsm(use_kannel, worker, statuses):
    contact = ContactFactory(phone_number="+33612345670")
    text = "L’appel de Zoë est déplacé – à 14 h"
    with transaction.atomic():
        message = do_send_message(contact, purpose="other", text=text)
    statuses.wait(message.pk, "delivered")
    assert use_kannel.received()[2] == "L'appel de Zoe est déplacé - à 14 h"


def test_while_smsbox_is_down_the_worker_retries_the_same_text(
    use_kannel, worker, statuses, settings
):
    settings.NOTIFY_MAX_ATTEMPTS = 5
    use_kannel.smsbox.stop()
    contact = ContactFactory(phone_number="+33612345671")
    with transaction.atomic():
        message = do_send_message(
            contact, purpose="call_code", text="Code 123456", spoken_digits="123456"
        )
    statuses.wait(message.pk, "queued")  # the first attempt failed and a retry is planned
    failed = Attempt.objects.get(message=message)
    assert failed.outcome == "failed" and "injoignable" in failed.detail
    use_kannel.smsbox.start(ready="Connected to bearerbox")
    statuses.wait(message.pk, "delivered")
    assert use_kannel.received()[2] == "Code 123456"
    message.refresh_from_db()
    assert message.attempts >= 2 and message.text == "Code 123456"


def test_refused_credentials_fail_the_message_at_once(use_kannel, worker, statuses, settings):
    settings.KANNEL_PASSWORD = "not-the-password"
    contact = ContactFactory(phone_number="+33612345672")
    with transaction.atomic():
        message = do_send_message(contact, purpose="other", text="x")
    statuses.wait(message.pk, "failed")
    message.refresh_from_db()
    assert message.attempts == 1
    assert "Kannel 403" in message.error


def test_a_forged_delivery_report_is_refused(use_kannel, client, settings):
    contact = ContactFactory()
    settings.SMS_BACKEND = "outbox"
    message = Message.objects.create(
        establishment=contact.detainee.establishment,
        contact=contact,
        to_number=contact.phone_number,
        channel="sms",
        language="fr",
        purpose="other",
        text="x",
        backend="kannel",
        status="sent",
        attempts=1,
    )
    response = client.get(
        "/notify/kannel/dlr", {"m": message.pk, "a": 1, "s": "0" * 32, "t": 1, "r": ""}
    )
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.status == "sent"
