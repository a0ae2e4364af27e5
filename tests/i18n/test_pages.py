"""The relative's and the detainee's pages, walked in every language: no French left."""

import json
import re
from html import unescape

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from calls.access import KIOSK_COOKIE
from calls.models import Call
from calls.tests.helpers import ready_call, sent_code
from tests.i18n.catalogs import facing_msgids, languages, placeholders

pytestmark = pytest.mark.django_db(transaction=True)

COOKIE = settings.LANGUAGE_COOKIE_NAME


def html_lang(html: str) -> tuple[str, str]:
    match = re.search(r'<html lang="([^"]*)" dir="([^"]*)"', html)
    assert match, html[:300]
    return match.group(1), match.group(2)


def visible_text(html: str) -> str:
    html = re.sub(r"<script(?![^>]*application/json).*?</script>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def french_fragments(language: str) -> set[str]:
    """The French source texts whose translation differs: none may show in ``language``.

    A text with placeholders is looked for by its literal pieces; short words ("SMS", "Aide")
    are left out, as they may stand inside a translation."""
    fragments = set()
    with translation.override(language):
        for msgid in facing_msgids():
            if translation.gettext(msgid) == msgid:
                continue
            pieces = re.split(r"%\(\w+\)[sd]", msgid) if placeholders(msgid) else [msgid]
            fragments |= {piece.strip() for piece in pieces if len(piece.strip()) >= 8}
    return fragments


def call_texts(html: str) -> dict[str, str]:
    """The call screen's texts for its script: a JSON block, or one element per text."""
    block = re.search(r'<script type="application/json" id="call-texts">(.*?)</script>', html, re.S)
    if block:
        return json.loads(block.group(1))
    block = re.search(r'<template id="call-texts">(.*?)</template>', html, re.S)
    assert block, "no call-texts"
    pairs = re.findall(r'data-text="(\w+)">(.*?)</span>', block.group(1), re.S)
    return {key: unescape(text) for key, text in pairs}


def check_page(response, language: str, fragments: set[str]) -> str:
    assert response.status_code in (200, 400, 403), response.status_code
    html = response.content.decode()
    lang, direction = html_lang(html)
    assert lang == language
    assert direction == ("rtl" if language == "ar" else "ltr")
    text = visible_text(html)
    left = sorted(fragment for fragment in fragments if fragment in text)
    assert left == [], f"{response.wsgi_request.path} in {language}: French left: {left}"
    return html


def test_the_language_menu_lists_every_language_in_its_own_name(client):
    html = client.get("/").content.decode()
    for code, _name in settings.LANGUAGES:
        assert f'<option value="{code}" lang="{code}"' in html
    assert ">Русский<" in html and ">Türkçe<" in html


def test_the_chosen_language_is_remembered_in_a_cookie(client):
    response = client.post("/i18n/setlang/", {"language": "ar", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert response.cookies[COOKIE].value == "ar"
    assert html_lang(client.get("/").content.decode()) == ("ar", "rtl")
    # The cookie outlives the page: a new visit (same browser) keeps the language.
    assert html_lang(client.get("/aide").content.decode()) == ("ar", "rtl")


def test_the_first_guess_comes_from_the_browser(client):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="tr-TR,tr;q=0.9,en;q=0.5").content.decode()
    assert html_lang(page) == ("tr", "ltr")
    assert "Giriş kodu" in page
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.8").content.decode()
    assert html_lang(page)[0] == "pt"
    # A language the site does not speak falls back to French.
    assert html_lang(client.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode())[0] == "fr"
    # A choice made in the menu beats the browser.
    client.cookies[COOKIE] = "pl"
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="tr").content.decode()
    assert html_lang(page)[0] == "pl"


def test_arabic_pages_are_laid_out_right_to_left(client):
    client.cookies[COOKIE] = "ar"
    html = client.get("/").content.decode()
    assert html_lang(html) == ("ar", "rtl")
    assert "رمز الدخول" in html  # "Code de connexion"
    assert html_lang(client.get("/aide").content.decode()) == ("ar", "rtl")


@pytest.mark.parametrize("language", languages())
def test_every_page_of_the_kiosk_and_the_portal_speaks_the_language(client, settings, language):
    settings.SITE_URL = "https://parloir.justice.gouv.fr"
    fragments = french_fragments(language)
    client.cookies[COOKIE] = language
    ready = ready_call()

    # The kiosk, before and after its activation, then the detainee's pages.
    check_page(client.get("/kiosk/"), language, fragments)  # not a registered kiosk
    check_page(client.get("/kiosk/activer"), language, fragments)
    client.cookies[KIOSK_COOKIE] = ready.credential
    check_page(client.get("/kiosk/"), language, fragments)
    bad = client.post("/kiosk/", {"prison_number": "0", "pin": "0"})
    check_page(bad, language, fragments)
    number = ready.site.detainee.prison_number
    client.post("/kiosk/", {"prison_number": number, "pin": "1234"})
    home = check_page(client.get("/kiosk/accueil"), language, fragments)
    with translation.override(language):
        assert str(ready.site.contact.get_relationship_display()) in unescape(home)
    check_page(client.get("/kiosk/reserver"), language, fragments)
    client.post("/kiosk/appel", {"booking": ready.booking.pk})
    call = Call.objects.get(booking=ready.booking)
    kiosk_call = check_page(client.get(f"/kiosk/appel/{call.pk}"), language, fragments)
    texts = call_texts(kiosk_call)
    with translation.override(language):
        assert texts["reconnecting"] == translation.gettext("Connexion perdue, reconnexion…")

    # The relative's pages, with the code the SMS gave.
    portal = Client()
    portal.cookies[COOKIE] = language
    check_page(portal.get("/"), language, fragments)
    wrong = portal.post("/", {"code": "000000"})
    check_page(wrong, language, fragments)
    portal.post(f"/j/{call.link_token}", {"code": sent_code(settings)})
    check_page(portal.get("/conditions"), language, fragments)
    portal.post("/conditions", {"decision": "accept"})
    check_page(portal.get("/surveillance"), language, fragments)
    portal.post("/surveillance", {"decision": "accept"})
    relative_call = check_page(portal.get("/appel"), language, fragments)
    assert all(call_texts(relative_call).values())
    check_page(portal.get("/aide", follow=True), language, fragments)
    check_page(portal.get("/fin"), language, fragments)

    # The detainee hangs up: the relative reads why, in the language.
    client.post(f"/kiosk/appel/{call.pk}/fin")
    ended = check_page(portal.get("/fin"), language, fragments)
    call.refresh_from_db()
    with translation.override(language):
        assert str(call.get_end_reason_display()) in unescape(ended)
    check_page(Client(headers={"accept-language": language}).get("/aide"), language, fragments)


def test_the_stylesheet_uses_logical_sides_so_arabic_mirrors():
    """Right to left comes from dir="rtl" and CSS logical properties (margin-inline-start,
    text-align: start...): a physical left or right would stay put in Arabic."""
    css = (settings.BASE_DIR / "static" / "css" / "parloir.css").read_text(encoding="utf-8")
    physical = re.compile(
        r"(?:margin|padding|border|inset)-(?:left|right)\b"
        r"|(?<![\w-])(?:left|right)\s*:"
        r"|(?:text-align|float|clear)\s*:\s*(?:left|right)\b"
    )
    assert physical.findall(css) == []
