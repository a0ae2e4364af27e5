"""Voice calls to landlines over SIP, answered (or not) by a real baresip that records."""

import asyncio
import logging
import threading
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from notify import sip, speech
from notify.actions import do_send_message
from notify.models import Attempt
from tests.factories import ContactFactory
from tests.telephony.support import correlation, located

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.telephony]

LANDLINE = "+33251421100"
SITE = "https://pa.fr"  # short: every reading spells it out, in real time


@pytest.fixture
def voice(settings):
    settings.SITE_URL = SITE
    settings.VOICE_REPEAT = 1
    settings.VOICE_KEY_REPEAT = True
    settings.VOICE_KEY_WAIT_SECONDS = 1
    settings.VOICE_MAX_READINGS = 5
    return settings


def _frames(pcm: bytes) -> bytes:
    # Each piece goes out in whole 20 ms frames, its last one padded with silence.
    frame = 2 * sip.FRAME_SAMPLES
    return pcm + bytes(-len(pcm) % frame)


def _expected_audio(
    digits: str,
    language: str,
    *,
    name: str,
    readings: int = 1,
    wait: float = 1,
    minutes: int | None = 5,
) -> bytes:
    """What the call says: the message (after the lead-in), again ``readings - 1`` times,
    the offer to hear it again, ``wait`` seconds of silence, the goodbye."""
    words = speech.script(
        text="", spoken_digits=digits, language=language, name=name, minutes=minutes
    )

    def say(ssml: str, lead_in: bool = False) -> bytes:
        return _frames(asyncio.run(speech.synthesize(ssml, words.language, lead_in=lead_in)))

    reading = say(words.heard, lead_in=True) + say(words.rest)
    audio = reading + (say(words.again) + reading) * (readings - 1)
    return audio + say(words.offer) + bytes(int(wait * speech.SAMPLE_RATE) * 2) + say(words.goodbye)


def _send_code(digits: str, *, language: str = "fr", line_type: str = "landline"):
    contact = ContactFactory(phone_number=LANDLINE, line_type=line_type, language=language)
    with transaction.atomic():
        message = do_send_message(
            contact,
            purpose="call_code",
            text=f"Code {digits}",
            spoken_digits=digits,
            valid_until=timezone.now() + timedelta(minutes=5),
        )
    return message, contact.detainee.first_name


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_code_and_how_to_use_it_are_read_out_and_what_the_callee_heard_matches(
    baresip_factory, use_sip, worker, statuses, voice, language
):
    callee = use_sip(baresip_factory(user=LANDLINE))
    mark = callee.peer.mark()
    message, name = _send_code("335012", language=language)
    statuses.wait(message.pk, "delivered", timeout=90)
    heard, rate = callee.recording(after=mark)
    assert rate == 8000
    expected = _expected_audio("335012", language, name=name)
    assert correlation(heard, expected) > 0.9
    # Another code sounds different where it matters: the digits.
    other = _expected_audio("335019", language, name=name)
    assert correlation(heard, other) < correlation(heard, expected)
    attempt = Attempt.objects.get(message=message)
    assert attempt.outcome == "answered" and attempt.channel == "voice"
    assert "PCMU" in attempt.detail and "1 lecture(s)" in attempt.detail


def test_a_key_pressed_during_the_message_has_it_read_once_more(
    baresip_factory, use_sip, worker, statuses, voice
):
    callee = use_sip(baresip_factory(user=LANDLINE))
    mark = callee.peer.mark()
    message, name = _send_code("604118")
    callee.answered(after=mark)
    callee.press("5")  # while the first reading goes on
    statuses.wait(message.pk, "delivered", timeout=120)
    heard, _rate = callee.recording(after=mark)
    assert correlation(heard, _expected_audio("604118", "fr", name=name, readings=2)) > 0.9
    attempt = Attempt.objects.get(message=message)
    assert "2 lecture(s)" in attempt.detail and "touches 5" in attempt.detail


class _Offered(logging.Handler):
    """Set when the voice backend offers to read the message again."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "offering the message again" in record.getMessage():
            self.event.set()


def test_a_key_pressed_after_the_offer_reads_the_message_again_at_once(
    baresip_factory, use_sip, worker, statuses, voice
):
    voice.VOICE_KEY_WAIT_SECONDS = 30  # the key, not the wait's end, goes on with the call
    voice.VOICE_MAX_READINGS = 2  # then goodbye, without offering a third
    callee = use_sip(baresip_factory(user=LANDLINE))
    offered = _Offered()
    logger = logging.getLogger("notify.backends.sip")
    level = logger.level
    logger.addHandler(offered)
    logger.setLevel(logging.INFO)
    try:
        mark = callee.peer.mark()
        message, name = _send_code("770311", language="en")
        assert offered.event.wait(60), "the message was never offered again"
        callee.press("1")
        statuses.wait(message.pk, "delivered", timeout=120)
    finally:
        logger.removeHandler(offered)
        logger.setLevel(level)
    heard, _rate = callee.recording(after=mark)
    words = speech.script(text="", spoken_digits="770311", language="en", name=name, minutes=5)
    reading = _frames(asyncio.run(speech.synthesize(words.heard, "en"))) + _frames(
        asyncio.run(speech.synthesize(words.rest, "en", lead_in=False))
    )
    # Two readings of the same words: the best match may be either of them.
    best, score = located(heard, reading)
    assert score > 0.9
    after_at, after_score = located(heard[best + len(reading) :], reading)
    if after_score > 0.9:
        gap = after_at  # the best match was the first reading
    else:
        before_at, before_score = located(heard[: max(0, best)], reading)
        assert before_score > 0.9, (after_score, before_score)
        gap = best - (before_at + len(reading))
    # The same words once more, right after the offer: the key, not the 30 s wait's end.
    assert 0 <= gap / 2 / speech.SAMPLE_RATE < 15, gap
    attempt = Attempt.objects.get(message=message)
    assert "2 lecture(s)" in attempt.detail and "touches 1" in attempt.detail


def test_without_keys_relayed_no_repeat_is_offered(
    baresip_factory, use_sip, worker, statuses, voice
):
    # PARLOIR_VOICE_KEY_REPEAT=0, for a trunk that relays no keys (PARLOIR_VOICE_REPEAT
    # then reads the message more than once).
    voice.VOICE_KEY_REPEAT = False
    callee = use_sip(baresip_factory(user=LANDLINE))
    mark = callee.peer.mark()
    message, name = _send_code("250796")
    statuses.wait(message.pk, "delivered", timeout=90)
    heard, _rate = callee.recording(after=mark)
    words = speech.script(text="", spoken_digits="250796", language="fr", name=name, minutes=5)

    def say(ssml: str, lead_in: bool = False) -> bytes:
        return _frames(asyncio.run(speech.synthesize(ssml, "fr", lead_in=lead_in)))

    expected = say(words.heard, lead_in=True) + say(words.rest) + say(words.goodbye)
    assert correlation(heard, expected) > 0.9
    assert len(heard) < len(expected) + 2 * speech.SAMPLE_RATE  # no offer, no wait
    assert "1 lecture(s)" in Attempt.objects.get(message=message).detail


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
    message, _name = _send_code("771204")
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
    message, _name = _send_code("402917")
    statuses.wait(message.pk, "failed", timeout=30)
    attempt = Attempt.objects.get(message=message)
    assert attempt.outcome == "no_answer"
    assert "487" in attempt.detail
    callee.peer.wait_for("session closed")  # the CANCEL reached it


def test_an_ambiguous_line_gets_an_sms_then_a_call_when_the_sms_fails(
    baresip_factory, use_sip, use_smpp, worker, statuses, voice
):
    callee = use_sip(baresip_factory(user="+12025550143"))
    use_smpp.command(cmd="fail", to="12025550143")
    contact = ContactFactory(phone_number="+12025550143", line_type="ambiguous", language="en")
    mark = callee.peer.mark()
    with transaction.atomic():
        message = do_send_message(
            contact, purpose="call_code", text="parloir code 918273", spoken_digits="918273"
        )
    statuses.wait(message.pk, "delivered", channel="voice", timeout=90)
    assert use_smpp.event("submit")["text"] == "parloir code 918273"
    heard, _rate = callee.recording(after=mark)
    name = contact.detainee.first_name
    assert correlation(heard, _expected_audio("918273", "en", name=name, minutes=None)) > 0.9
    attempts = list(Attempt.objects.filter(message=message).values_list("channel", "outcome"))
    assert attempts == [("sms", "failed"), ("voice", "answered")]
