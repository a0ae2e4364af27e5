"""GSM 03.38 versus UCS-2, and the code message fitting one SMS in every language."""

import pytest
from django.conf import settings as django_settings
from django.utils import translation

from calls.actions import _code_text
from calls.models import Call, CallRelative
from notify import sms, speech
from people.models import AuthorizedContact, Detainee

LANGUAGES = [code for code, _name in django_settings.LANGUAGES]


def test_gsm_text_counts_septets_and_extension_characters_twice():
    assert sms.shape("a" * 160) == sms.Shape("gsm7", 160, 1)
    assert sms.shape("a" * 161) == sms.Shape("gsm7", 161, 2)
    assert sms.shape("€" * 80).units == 160
    assert sms.shape("é" * 160).segments == 1


def test_one_character_outside_gsm_makes_the_whole_text_ucs2():
    assert sms.shape("ł" + "a" * 69) == sms.Shape("ucs2", 70, 1)
    assert sms.shape("ł" + "a" * 70).segments == 2
    assert sms.shape("😀" * 35).units == 70  # surrogate pairs count twice


def test_prepare_keeps_meaning_and_stays_in_gsm_when_it_can():
    assert sms.prepare("L’appel – « demain »…") == 'L\'appel - " demain "...'
    assert sms.prepare("Zoë et Łukasz") == "Zoe et Lukasz"
    assert sms.prepare("Привет, Zoë") == "Привет, Zoë"  # another script: UCS-2 as written


def test_gsm_encoding_round_trips_and_parts_never_cut_an_escape():
    text = "Prix : 10 € [tarif] ^_^ " * 10
    assert sms.decode_gsm7(sms.encode_gsm7(text)) == text
    encoded = sms.encode_parts(text)
    assert encoded.data_coding == 0 and encoded.udhi
    body = b"".join(part[6:] for part in encoded.parts)
    assert sms.decode_gsm7(body) == text
    assert all(len(part) - 6 <= sms.GSM7_PART for part in encoded.parts)
    assert all(not part.endswith(b"\x1b") for part in encoded.parts)


def test_ucs2_parts_keep_surrogate_pairs_whole():
    text = "😀" * 40
    encoded = sms.encode_parts(text)
    assert encoded.data_coding == 8
    assert b"".join(p[6:] for p in encoded.parts).decode("utf-16-be") == text


def _code_message(language: str, validity: int, settings) -> str:
    settings.SITE_URL = "https://visio.parloir.justice.gouv.fr"
    contact = AuthorizedContact(language=language)
    call = Call(
        link_token="A" * 16, detainee=Detainee(first_name="Jean-Christophe"), contact=contact
    )
    leg = CallRelative(call=call, contact=contact, link_token="B" * 16, position=1)
    return sms.prepare(_code_text(call, leg, "335012", validity))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("validity", [5, 15])
def test_the_code_message_fits_one_sms_in_every_language(language, validity, settings):
    text = _code_message(language, validity, settings)
    shape = sms.shape(text)
    assert shape.segments == 1, f"{shape.encoding}, {shape.units} units: {text}"
    assert text.endswith("335012")


@pytest.mark.parametrize("language", ["fr", "en"])
def test_in_french_and_english_it_keeps_the_link_that_fills_in_the_code(language, settings):
    text = _code_message(language, 15, settings)
    assert sms.shape(text).encoding == "gsm7"
    assert "/j/BBBBBBBBBBBBBBBB#335012" in text  # the relative's own link


def test_the_voice_call_speaks_french_where_its_words_are_not_translated():
    assert speech.script(text="", spoken_digits="12", language="en").language == "en"
    untranslated = speech.script(text="", spoken_digits="12", language="xx")
    assert untranslated.language == "fr" and untranslated.text.startswith("Bonjour")
    assert untranslated.offer.startswith("Pour réécouter")


def test_a_site_address_is_spelled_with_its_punctuation_in_words(settings):
    settings.SITE_URL = "https://visio-parloir.example.org:8443/"
    assert speech.site_address() == "visio-parloir.example.org:8443"
    with translation.override("fr"):
        ssml, plain = speech.spelled_site(speech.site_address())
    assert plain == (
        "v, i, s, i, o, tiret, p, a, r, l, o, i, r, point, e, x, a, m, p, l, e, point, "
        "o, r, g, deux-points, 8, 4, 4, 3"
    )
    assert ssml.count("<say-as") == 26 and "&" not in ssml


def test_a_names_markup_is_spoken_as_text_not_obeyed():
    words = speech.script(text="", spoken_digits="12", language="fr", name="<break/>Jo & Lu")
    assert "&lt;break/&gt;Jo &amp; Lu vous attend" in words.heard
    assert "<break/>Jo & Lu vous attend" in words.text
