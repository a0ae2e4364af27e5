"""What reaches a relative's phone, in every language: the code SMS in one SMS, the booking
messages, and the words of the voice call."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone, translation

from bookings.actions import message_text
from calls.models import CallCode
from calls.tests.helpers import ready_call, start
from notify import sms, speech
from notify.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "https://parloir.justice.gouv.fr"  # a link is then SITE/j/<16 characters>#<code>: 58
ALL_LANGUAGES = [code for code, _name in settings.LANGUAGES]
# Written outside GSM 7-bit even once accents are dropped: 70 characters, no room for a link.
UCS2_LANGUAGES = {"ar", "ru"}


def code_message(language: str, first_name: str = "Mohamed") -> tuple[str, str, str]:
    """The text of the code SMS of a new call, its code and its call's link token."""
    ready = ready_call()
    ready.booking.contact.language = language
    ready.booking.contact.save()
    ready.site.detainee.first_name = first_name
    ready.site.detainee.save()
    call = start(ready)
    message = CallCode.objects.get(call=call).message
    return message.text, message.spoken_digits, call.link_token


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_the_code_message_fits_one_sms_in_every_language(settings, language):
    settings.SITE_URL = SITE
    for name in ("Mohamed", "Jean-Baptiste"):
        text, code, token = code_message(language, name)
        wire = sms.shape(sms.prepare(text))  # as the SMS gateways send it
        assert wire.segments == 1, (language, wire, text)
        assert text.endswith(code)
        with translation.override(language):
            assert translation.gettext("parloir : code valable %(minutes)s min : %(code)s")
        if language in UCS2_LANGUAGES:
            assert wire.encoding == sms.UCS2 and wire.units <= 70
            assert "parloir.justice.gouv.fr" in text and "/j/" not in text, text
        else:
            # The link opens the portal with the code filled in.
            assert wire.encoding == sms.GSM7 and wire.units <= 160
            assert f"{SITE}/j/{token}#{code}" in text, text


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_a_long_or_foreign_name_costs_the_link_not_a_second_sms(settings, language):
    settings.SITE_URL = SITE
    for name in ("Marie-Alexandrine-Bénédicte", "Łukasz", "Георгий"):
        text, code, _token = code_message(language, name)
        assert sms.shape(sms.prepare(text)).segments == 1, (language, name, text)
        assert text.endswith(code)


def test_a_long_site_address_still_leaves_the_code_in_one_sms(settings):
    settings.SITE_URL = "https://visioconference-parloir.direction-penitentiaire.justice.gouv.fr"
    for language in ALL_LANGUAGES:
        text, code, _token = code_message(language)
        assert sms.shape(sms.prepare(text)).segments == 1, (language, text)
        assert text.endswith(code)


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_booking_messages_speak_the_contacts_language(settings, language):
    settings.SITE_URL = SITE
    ready = ready_call()
    booking = ready.booking
    booking.contact.language = language
    booking.contact.save()
    earlier = booking.starts_at - timedelta(days=1)
    french = ("a réservé un appel vidéo", "est déplacé", "est annulé", "heure de l'établissement")
    for purpose in (
        Message.Purpose.BOOKING_MADE,
        Message.Purpose.BOOKING_MOVED,
        Message.Purpose.BOOKING_CANCELLED,
    ):
        text = message_text(booking, purpose, previous_start=earlier)
        assert booking.detainee.first_name in text and SITE in text
        assert "%(" not in text
        if language != "fr":
            assert not [words for words in french if words in text], (language, text)
    with translation.override(language):
        day = timezone.localtime(booking.starts_at, booking.room.quarter.establishment.zone)
        assert translation.gettext(day.strftime("%A")) in text  # the day, in the language


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_the_voice_call_speaks_the_contacts_language(settings, language):
    settings.SITE_URL = SITE
    words = speech.script(
        text="", spoken_digits="482913", language=language, name="Julien", minutes=5
    )
    assert words.language == language  # never French words in a foreign voice
    # The guide's "instructions de connexion": who calls, the address spelled out so that
    # it can be typed, the code (twice), its validity.
    assert words.text.count("4, 8, 2, 9, 1, 3") == 2
    assert "Julien" in words.text and "5" in words.text.replace("4, 8, 2, 9, 1, 3", "")
    assert "p, a, r, l, o, i, r" in words.text and "g, o, u, v" in words.text
    assert '<say-as interpret-as="characters">j</say-as>' in words.heard
    assert "%(" not in words.text + words.offer + words.again + words.goodbye
    if language != "fr":
        french = ("Bonjour", "Entrez le code", "point", "Au revoir", "appuyez", "Je répète")
        spoken = " ".join([words.text, words.offer, words.again, words.goodbye])
        assert not [word for word in french if word in spoken], (language, spoken)


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_the_voice_call_says_one_minute_as_one(settings, language):
    one = speech.script(text="", spoken_digits="482913", language=language, minutes=1).text
    many = speech.script(text="", spoken_digits="482913", language=language, minutes=12).text
    assert " 1 " in one and " 12 " in many
    with translation.override(language):
        plural_differs = translation.ngettext("x", "y", 1) != translation.ngettext("x", "y", 12)
    if language in ("fr", "en", "de", "es", "it", "nl", "pt", "ro", "ru", "pl"):
        assert one.replace(" 1 ", " N ") != many.replace(" 12 ", " N "), (language, plural_differs)
