"""Voice calls to landlines over SIP, answered (or not) by a real baresip that records."""

import asyncio
import threading

import pytest
from django.db import transaction

from notify import sip, speech
from notify.actions import do_send_message
from notify.models import Attempt
from tests.factories import ContactFactory
from tests.telephony.support import correlation

pytestmark = pytest.mark.django_db(transaction=True)

LANDLINE = "+33251421100"


def _expected_audio(digits: str, language: str) -> bytes:
    words = speech.script(text="", spoken_digits=digits, language=language)
    return asyncio.run(speech.synthesize(words.text, words.language))


def _send_code(digits: str, *, language: str = "fr", line_type: str = "landline"):
    contact = ContactFactory(phone_number=LANDLINE, line_type=line_type, language=language)
    with transaction.atomic():
        return do_send_message(
            contact, purpose="call_code", text=f"Code {digits}", spoken_digits=digits
        )


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_code_is_read_out_and_what_the_callee_heard_matches(
    baresip_factory, use_sip, worker, statuses, language
):
    callee = use_sip(baresip_factory(user=LANDLINE))
    mark = callee.peer.mark()
    message = _send_code("335012", language=language)
    statuses.wait(message.pk, "delivered", timeout=60)
    heard, rate = callee.recording(after=mark)
    assert rate == 8000
    expected = _expected_audio("335012", language)
    assert correlation(heard, expected) > 0.9
    # Another code sounds different where it matters: the digits.
    assert correlation(heard, _expected_audio("335019", language)) < correlation(heard, expected)
    attempt = Attempt.objects.get(message=message)
    assert attempt.outcome == "answered" and attempt.channel == "voice"
    assert "PCMU" in attempt.detail


def test_a_busy_line_is_kept_as_busy_and_the_message_fails_after_its_tries(
    baresip_factory, use_sip, worker, statuses, settings
):
    # baresip refuses a call beyond call_max_calls with 486 Busy Here: ring it once first.
    callee = use_sip(baresip_factory(user=LANDLINE, answermode="manual", max_calls=1))
    settings.NOTIFY_MAX_ATTEMPTS = 2
    account = sip.Account(
        proxy_host="127.0.0.1",
        proxy_port=callee.port,
        domain="127.0.0.1",
        from_user="neighbour",
        local_ip="127.0.0.1",
        rtp_ports=(41000, 41099),
    )
    mark = callee.peer.mark()
    # The neighbour's call rings for 10 s, then gives up by itself (CANCEL).
    neighbour = threading.Thread(
        target=asyncio.run,
        args=(sip.place_call(account, f"sip:{LANDLINE}@127.0.0.1", b"", ring_timeout=10),),
        daemon=True,
    )
    neighbour.start()
    callee.peer.wait_for("using AF from sdp offer", after=mark)  # it rings
    message = _send_code("771204")
    statuses.wait(message.pk, "failed", timeout=60)
    neighbour.join(20)
    outcomes = list(Attempt.objects.filter(message=message).values_list("outcome", flat=True))
    assert outcomes == ["busy", "busy"]
    message.refresh_from_db()
    assert "486" in message.error


def test_nobody_answers_the_call_is_cancelled_at_the_ring_timeout(
    baresip_factory, use_sip, worker, statuses, settings
):
    callee = use_sip(baresip_factory(user=LANDLINE, answermode="manual"))
    settings.SIP_RING_SECONDS = 2
    settings.NOTIFY_MAX_ATTEMPTS = 1
    message = _send_code("402917")
    statuses.wait(message.pk, "failed", timeout=30)
    attempt = Attempt.objects.get(message=message)
    assert attempt.outcome == "no_answer"
    assert "487" in attempt.detail
    callee.peer.wait_for("session closed")  # the CANCEL reached it


def test_an_ambiguous_line_gets_an_sms_then_a_call_when_the_sms_fails(
    baresip_factory, use_sip, use_smpp, worker, statuses
):
    callee = use_sip(baresip_factory(user="+12025550143"))
    use_smpp.command(cmd="fail", to="12025550143")
    contact = ContactFactory(phone_number="+12025550143", line_type="ambiguous", language="en")
    mark = callee.peer.mark()
    with transaction.atomic():
        message = do_send_message(
            contact, purpose="call_code", text="parloir code 918273", spoken_digits="918273"
        )
    statuses.wait(message.pk, "delivered", channel="voice", timeout=60)
    assert use_smpp.event("submit")["text"] == "parloir code 918273"
    heard, _rate = callee.recording(after=mark)
    assert correlation(heard, _expected_audio("918273", "en")) > 0.9
    attempts = list(Attempt.objects.filter(message=message).values_list("channel", "outcome"))
    assert attempts == [("sms", "failed"), ("voice", "answered")]
