"""Staff who read messages never read a live call code nor a call link (docs/notifications.md).

Whoever holds them can join the call as the relative, a lawyer's call included, and
nothing would tell the call was joined by staff.
"""

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils.html import escape

from calls.tests.helpers import ready_call, sent_code, start
from notify import redact
from notify.actions import do_send_message
from notify.models import Message
from tests.factories import sign_in, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def code_sent(settings, client):
    ready = ready_call()
    call = start(ready)
    code = sent_code(settings)
    message = Message.objects.get(purpose=Message.Purpose.CALL_CODE, contact=call.contact)
    assert code in message.text and call.link_token in message.text
    with transaction.atomic():
        booking_notice = do_send_message(
            call.contact,
            purpose=Message.Purpose.BOOKING_MADE,
            text="Appel vidéo réservé le 3 mars à 10:00, local 4.",
        )
    officer = staff_with_role("booking_officer", ready.site.establishment)
    sign_in(client, officer)
    return client, call, code, message, booking_notice


def _assert_secret_kept(html, call, code, message):
    assert code not in html
    assert call.link_token not in html
    assert f"/j/{redact.MASK}" in html
    message.refresh_from_db()
    assert escape(message.get_purpose_display()) in html  # a code was sent…
    assert escape(message.get_status_display()) in html  # …and what became of it


def test_the_outbox_page_shows_a_code_was_sent_but_neither_the_code_nor_the_link(code_sent):
    client, call, code, message, booking_notice = code_sent
    response = client.get(reverse("console:outbox"))
    assert response.status_code == 200
    html = response.content.decode()
    _assert_secret_kept(html, call, code, message)
    assert booking_notice.text in html


def test_the_admin_shows_a_code_was_sent_but_neither_the_code_nor_the_link(code_sent):
    client, call, code, message, booking_notice = code_sent
    changelist = client.get(reverse("admin:notify_message_changelist"))
    assert changelist.status_code == 200
    assert code not in changelist.content.decode()
    assert escape(message.get_purpose_display()) in changelist.content.decode()
    page = client.get(reverse("admin:notify_message_change", args=[message.pk]))
    assert page.status_code == 200
    _assert_secret_kept(page.content.decode(), call, code, message)
    notice = client.get(reverse("admin:notify_message_change", args=[booking_notice.pk]))
    assert booking_notice.text in notice.content.decode()


def test_the_admin_finds_no_message_by_its_code_or_link(code_sent):
    client, call, code, message, _booking_notice = code_sent
    url = reverse("admin:notify_message_changelist")
    for term in (code, call.link_token):
        html = client.get(url, {"q": term}).content.decode()
        assert f'href="{reverse("admin:notify_message_change", args=[message.pk])}"' not in html
    # A filter in the address would find the code digit by digit.
    for lookup in ("spoken_digits", "spoken_digits__startswith", "text__contains"):
        assert client.get(url, {lookup: code[:1]}).status_code == 400


def test_the_masked_text_keeps_everything_but_the_code_and_the_link():
    message = Message(
        purpose=Message.Purpose.CALL_CODE,
        spoken_digits="042917",
        text="parloir : appel vidéo avec Ali. Ouvrez https://parloir.example/j/AbC-d_9#042917 "
        "et entrez sous 10 min le code 042917",
    )
    assert redact.shown_text(message) == (
        "parloir : appel vidéo avec Ali. Ouvrez https://parloir.example/j/•••••• "
        "et entrez sous 10 min le code ••••••"
    )
    message.text = "parloir : sur localhost:8000, entrez sous 10 min le code 042917"
    assert redact.shown_text(message) == (
        "parloir : sur localhost:8000, entrez sous 10 min le code ••••••"
    )
    notice = Message(purpose=Message.Purpose.BOOKING_MADE, text="Réservé le 03/03 à 10:00")
    assert redact.shown_text(notice) == notice.text
