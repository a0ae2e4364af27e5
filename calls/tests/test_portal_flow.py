"""The relative's pages, through Django's test client: code, consents, waiting."""

from html import unescape

import pytest

from calls import actions
from calls.models import Call, Consent
from calls.tests.helpers import ready_call, sent_code, start
from tests.factories import EstablishmentFactory, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_asks_for_the_code_with_the_seeds_labels(client):
    response = client.get("/")
    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "Code de connexion" in html
    assert "Connexion" in html
    assert 'id="language-menu"' in html


def test_it_walks_code_terms_monitoring_to_the_call(client, settings):
    ready = ready_call()
    call = start(ready)
    code = sent_code(settings)
    response = client.post(f"/j/{call.link_token}", {"code": code}, REMOTE_ADDR="192.0.2.1")
    assert response.status_code == 302 and response["Location"] == "/conditions"
    page = client.get("/conditions").content.decode()
    assert "Accepter" in page and "Rejeter" in page and "Charte de confidentialité" in page
    response = client.post(
        "/conditions",
        {"decision": "accept"},
        HTTP_USER_AGENT="Firefox/128",
        REMOTE_ADDR="192.0.2.1",
    )
    assert response["Location"] == "/surveillance"
    page = client.get("/surveillance").content.decode()
    assert "Cet appel vidéo peut être surveillé ou enregistré." in page
    response = client.post("/surveillance", {"decision": "accept"})
    assert response["Location"] == "/appel"
    page = client.get("/appel").content.decode()
    # The guide's own words for this step (the prison administration's mode d'emploi).
    assert "Attendre que le contact réponde" in unescape(page)
    assert "En attente de votre proche" not in page
    assert "Temps restant" in page
    assert ready.site.establishment.contact_phone in page
    call.refresh_from_db()
    assert call.state == Call.State.RELATIVE_JOINED
    consent = call.consents.get(kind=Consent.Kind.TERMS)
    assert consent.client_ip == "192.0.2.1"
    assert consent.user_agent == "Firefox/128"


def test_it_does_not_let_a_relative_who_refused_monitoring_join(client, settings):
    call = start(ready_call())
    client.post("/", {"code": sent_code(settings)})
    client.post("/conditions", {"decision": "accept"})
    response = client.post("/surveillance", {"decision": "reject"})
    assert response["Location"] == "/fin"
    # This browser left the call: the call page sends it back to the code.
    assert client.get("/appel")["Location"] == "/"
    page = client.get("/fin").content.decode()
    assert "Vous n'avez pas accepté les conditions" in page
    call.refresh_from_db()
    # The slot is not burnt: the detainee may call again.
    assert call.state == Call.State.BOOKED


def test_it_shows_one_error_text_for_a_wrong_code_and_keeps_the_establishment_reachable(client):
    response = client.post("/", {"code": "000000"})
    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert "Ce code n'est pas valide." in html
    assert "/aide" in html


def test_the_pages_after_the_code_need_a_redeemed_code(client):
    for url in ("/conditions", "/surveillance", "/appel"):
        assert client.get(url)["Location"] == "/"


def test_the_help_page_shows_the_establishments_contact_details(client):
    ready = ready_call()
    establishment = ready.site.establishment
    html = client.get(f"/aide/{establishment.code}").content.decode()
    assert establishment.contact_phone in html
    assert establishment.contact_hours in html


def test_the_relative_hangs_up_over_http_when_the_socket_is_down(client, settings):
    call = start(ready_call())
    client.post(f"/j/{call.link_token}", {"code": sent_code(settings)})
    client.post("/conditions", {"decision": "accept"})
    client.post("/surveillance", {"decision": "accept"})
    page = client.get("/appel").content.decode()
    assert 'id="cancel-form"' in page and 'action="/appel/raccrocher"' in page

    assert client.get("/appel/raccrocher").status_code == 405
    response = client.post("/appel/raccrocher")

    assert response["Location"] == "/fin"
    call.refresh_from_db()
    assert call.state == Call.State.ENDED
    assert call.end_reason == Call.EndReason.HUNG_UP_RELATIVE
    # A second press, or the leave frame arriving after it, changes nothing.
    client.post("/appel/raccrocher")
    assert Call.objects.get(pk=call.pk).ended_at == call.ended_at


def test_only_the_relative_of_the_call_can_hang_it_up(client):
    call = start(ready_call())
    response = client.post("/appel/raccrocher")
    assert response["Location"] == "/"
    assert Call.objects.get(pk=call.pk).is_open


def _code_error(response) -> str:
    assert response.status_code == 400
    html = unescape(response.content.decode())
    start_at = html.index('id="code-error"')
    return html[html.index(">", start_at) + 1 : html.index("</p>", start_at)]


def test_a_refused_code_says_the_validity_its_establishment_set(client, settings):
    ready = ready_call()
    establishment = ready.site.establishment
    establishment.code_validity_minutes = 12
    establishment.save(update_fields=["code_validity_minutes"])
    call = start(ready)
    # Through the SMS's link: that call's establishment.
    error = _code_error(client.post(f"/j/{call.link_token}", {"code": "000000"}))
    assert "il est valable 12 minutes." in error
    establishment.code_validity_minutes = 1
    establishment.save(update_fields=["code_validity_minutes"])
    error = _code_error(client.post(f"/j/{call.link_token}", {"code": "000000"}))
    assert "il est valable 1 minute." in error
    # Typed without the link, on a site whose establishments all give the same validity.
    EstablishmentFactory(code_validity_minutes=1)
    error = _code_error(client.post("/", {"code": "000000"}))
    assert "il est valable 1 minute." in error


def test_a_code_typed_without_its_link_names_no_validity_when_establishments_differ(client):
    ready_call()
    EstablishmentFactory(code_validity_minutes=10)
    error = _code_error(client.post("/", {"code": "000000"}))
    # The text cannot say whose code it was: it sends the relative to the message.
    assert "sa durée de validité, indiquée dans le message" in error
    assert "minute" not in error
    response = client.post("/", {"code": "000000"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "how long it is valid, as its message says" in _code_error(response)


def test_a_refused_code_says_its_validity_in_the_readers_language(client):
    ready_call()
    response = client.post("/", {"code": "000000"}, HTTP_ACCEPT_LANGUAGE="ru")
    assert "он действует 5 минут." in _code_error(response)


def test_the_end_page_keeps_the_interruptions_category(client, settings):
    ready = ready_call()
    call = start(ready)
    client.post(f"/j/{call.link_token}", {"code": sent_code(settings)})
    client.post("/conditions", {"decision": "accept"})
    client.post("/surveillance", {"decision": "accept"})
    guard = staff_with_role("guard", ready.site.establishment)
    actions.do_interrupt(call, category="security", reason="Objet montré", urgent=True, staff=guard)

    assert client.get("/appel")["Location"] == "/fin"
    html = unescape(client.get("/fin").content.decode())
    assert "Interrompu par l'administration : Sécurité" in html
    # The detailed reason is for staff only.
    assert "Objet montré" not in html
    html = unescape(client.get("/fin", HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert "Interrupted by the administration: Security" in html
