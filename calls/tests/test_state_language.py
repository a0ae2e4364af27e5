"""Why a call ended, told to each side in the language its pages are in."""

import json

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.utils import translation

from calls import actions
from calls.events import end_label
from calls.models import Call
from calls.tests.helpers import ready_call, relative_socket, sent_code, start
from parloir.languages import language_of
from tests.factories import staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def _scope(cookie: str | None = None, accept: str | None = None) -> dict:
    headers = [(b"accept-language", accept.encode())] if accept else []
    cookies = {django_settings.LANGUAGE_COOKIE_NAME: cookie} if cookie else {}
    return {"headers": headers, "cookies": cookies}


def test_the_language_menus_cookie_wins_then_the_browsers_preferences_then_french():
    assert language_of(_scope(cookie="ar", accept="en-GB,en;q=0.9")) == "ar"
    assert language_of(_scope(accept="pt-BR,pt;q=0.9,en;q=0.5")) == "pt"
    assert language_of(_scope(accept="ja,de;q=0.5")) == "de"
    assert language_of(_scope(cookie="xx", accept="zz")) == "fr"
    assert language_of({}) == "fr"


def test_an_interruption_reads_in_each_language_with_its_category_only():
    assert end_label("staff", "security") == "Interrompu par l'administration : Sécurité"
    with translation.override("en"):
        assert end_label("staff", "security") == "Interrupted by the administration: Security"
        assert end_label("time_up") == "Time is up"
    assert end_label("") == "" and end_label("not-a-reason") == ""


def test_a_relative_reading_english_is_told_in_english_why_staff_ended_the_call(client, settings):
    ready = ready_call()
    call = start(ready)
    client.post(f"/j/{call.link_token}", {"code": sent_code(settings)})
    client.post("/conditions", {"decision": "accept"})
    client.post("/surveillance", {"decision": "accept"})
    guard = staff_with_role("guard", ready.site.establishment)
    actions.do_interrupt(
        Call.objects.get(pk=call.pk),
        category="behaviour",
        reason="Propos menaçants",
        urgent=True,
        staff=guard,
    )

    async def hello():
        communicator = await relative_socket(client, "en-GB,en;q=0.9")
        await communicator.send_to(text_data=json.dumps({"type": "hello", "call": call.pk}))
        frame = json.loads(await communicator.receive_from(timeout=5))
        await communicator.disconnect()
        return frame

    frame = async_to_sync(hello)()
    assert frame["type"] == "state" and frame["final"] is True
    assert frame["end_reason"] == "staff" and frame["end_category"] == "behaviour"
    # The category, never the guard's own words.
    assert frame["end_reason_label"] == "Interrupted by the administration: Behaviour"
