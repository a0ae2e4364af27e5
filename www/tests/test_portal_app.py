"""The relative's side as an app, through Django's test client: manifest, worker, new pages.

Their behaviour in real browsers is in tests/relative/.
"""

import json
from html import unescape

import pytest

from calls.tests.helpers import ready_call, start
from www.portal import check

pytestmark = pytest.mark.django_db


def test_the_manifest_describes_an_installable_app(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["name"] == "parloir"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] and manifest["background_color"]
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_the_service_worker_is_served_from_the_root_and_keeps_only_the_shell(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Cache-Control"] == "no-cache"
    body = response.content.decode()
    shell = json.loads(body.split("const SHELL = ", 1)[1].split(";\n", 1)[0])
    assert "/static/css/parloir.css" in shell and "/static/js/call-ui.js" in shell
    assert all(url.startswith("/static/") for url in shell)
    assert 'const OFFLINE_URL = "/hors-ligne"' in body


def test_the_worker_version_follows_the_shell(client, settings, tmp_path):
    first = client.get("/sw.js").content.decode()
    assert first == client.get("/sw.js").content.decode()
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "parloir.css").write_text("body { color: red }")
    settings.STATICFILES_DIRS = [static, *settings.STATICFILES_DIRS]
    from django.contrib.staticfiles import finders

    finders.get_finder.cache_clear()
    try:
        changed = client.get("/sw.js").content.decode()
    finally:
        finders.get_finder.cache_clear()
    assert changed != first


def test_every_portal_page_links_the_manifest_and_the_statement(client):
    for url in ["/", "/verifier", "/accessibilite", "/hors-ligne", "/aide"]:
        html = client.get(url).content.decode()
        assert 'rel="manifest" href="/manifest.webmanifest"' in html, url
        assert 'href="/accessibilite"' in html, url


def test_the_statement_has_the_rgaa_sections(client):
    html = unescape(client.get("/accessibilite").content.decode())
    for text in [
        "Déclaration d'accessibilité",
        "État de conformité",
        "non conforme",
        "Contenus non accessibles",
        "Dérogations pour charge disproportionnée",
        "Retour d'information et contact",
        "Voies de recours",
        "Défenseur des droits",
    ]:
        assert text in html


def test_the_offline_page_points_to_help(client):
    html = unescape(client.get("/hors-ligne").content.decode())
    assert "Pas de connexion Internet" in html
    assert 'href="/aide"' in html


def test_the_code_page_offers_the_device_check(client):
    html = unescape(client.get("/").content.decode())
    assert 'href="/verifier"' in html and "Tester mon appareil avant l'appel" in html


def test_the_check_sample_is_never_cached(client):
    response = client.get("/verifier/echantillon")
    assert response["Cache-Control"] == "no-store"
    assert len(response.content) == check.SAMPLE_BYTES


def test_the_sms_link_shows_its_establishments_help(client):
    ready = ready_call()
    call = start(ready)
    html = client.get(f"/j/{call.link_token}").content.decode()
    assert f'href="/aide/{ready.site.establishment.code}"' in html
    assert ready.site.establishment.contact_phone in html
    # Without a known link, the list of establishments.
    assert 'href="/aide"' in client.get("/j/unknown").content.decode()
