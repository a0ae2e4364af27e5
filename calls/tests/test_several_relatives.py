"""A call of several relatives (issue #19), through the actions and the relatives' pages:
each their own code, link and consents; one refusing, hanging up or being removed takes
only them out; the conversation starts with the first relative."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from calls import actions
from calls.models import Call, CallRelative, Participant
from calls.tests.helpers import ready_call, ready_family, start
from tests.factories import sign_in, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

S = Call.State


@pytest.fixture
def family_call(settings):
    """A booking naming three contacts, called: its call and the three legs."""
    ready, _contacts = ready_family()
    call = start(ready)
    return call, list(CallRelative.objects.filter(call=call).order_by("position"))


def _messages(settings) -> dict[str, str]:
    """The last message sent to each number, as each relative reads it."""
    sent = [json.loads(line) for line in settings.OUTBOX_PATH.read_text().splitlines()]
    return {entry["to"]: entry["text"] for entry in sent}


def _link_and_code(text: str) -> tuple[str, str]:
    import re

    found = re.search(r"/j/([^#\s]+)#(\d+)", text)
    return found.group(1), found.group(2)


def _enters(link: str, code: str) -> Client:
    page = Client()
    answer = page.post(f"/j/{link}", {"code": code})
    assert answer.status_code == 302 and answer["Location"].endswith("/conditions"), answer
    return page


def _consents(page: Client) -> None:
    assert page.post("/conditions", {"decision": "accept"})["Location"].endswith("/surveillance")
    assert page.post("/surveillance", {"decision": "accept"})["Location"].endswith("/appel")
    assert page.get("/appel").status_code == 200


def test_it_sends_each_relative_their_own_code_and_link(family_call, settings):
    call, legs = family_call
    texts = _messages(settings)
    assert set(texts) == {leg.contact.phone_number for leg in legs}
    links = {_link_and_code(texts[leg.contact.phone_number])[0] for leg in legs}
    # Three links, the first relative's being the call's own (a call of one is as before).
    assert links == {leg.link_token for leg in legs} and len(links) == 3
    assert legs[0].link_token == call.link_token
    assert call.codes.filter(voided_at=None).count() == 3


def test_each_relative_enters_as_themselves_and_the_first_one_starts_the_conversation(
    family_call, settings
):
    call, legs = family_call
    texts = _messages(settings)
    pages = {}
    for leg in (legs[1], legs[0]):  # in any order
        link, code = _link_and_code(texts[leg.contact.phone_number])
        pages[leg.position] = _enters(link, code)
        _consents(pages[leg.position])
    assert set(
        call.consents.filter(accepted=True).values_list("relative__position", flat=True)
    ) == {0, 1}
    call.refresh_from_db()
    assert call.state == S.RELATIVE_JOINED

    kiosk, _ = actions.do_join(call, "kiosk")
    second, _ = actions.do_join(call, "relative", leg=legs[1])
    actions.do_mark_media_up(call, "kiosk")
    assert Call.objects.get(pk=call.pk).state == S.RELATIVE_JOINED
    actions.do_mark_media_up(call, "relative", legs[1])
    # The detainee and one relative: the conversation is under way.
    assert Call.objects.get(pk=call.pk).state == S.LIVE
    # Another relative's page never replaces the one of a different relative.
    first, _ = actions.do_join(call, "relative", leg=legs[0])
    assert set(
        Participant.objects.filter(call=call, left_at=None).values_list("pk", flat=True)
    ) == {kiosk.pk, second.pk, first.pk}
    # A relative's code does not open another relative's link.
    link_of_0 = legs[0].link_token
    _link, code_of_2 = _link_and_code(texts[legs[2].contact.phone_number])
    refused = Client().post(f"/j/{link_of_0}", {"code": code_of_2})
    assert refused.status_code == 400


def test_one_relative_refusing_leaves_the_call_to_the_others(family_call, settings):
    call, legs = family_call
    texts = _messages(settings)
    link, code = _link_and_code(texts[legs[2].contact.phone_number])
    page = _enters(link, code)
    assert page.post("/conditions", {"decision": "refuse"})["Location"].endswith("/fin")

    call.refresh_from_db()
    assert call.state == S.CODE_SENT
    legs[2].refresh_from_db()
    assert legs[2].refused_at is not None
    # The others' codes still hold; the one who refused cannot come back with theirs.
    assert call.codes.filter(voided_at=None).count() == 2
    assert Client().post(f"/j/{link}", {"code": code}).status_code == 400
    link, code = _link_and_code(texts[legs[0].contact.phone_number])
    _consents(_enters(link, code))
    assert Call.objects.get(pk=call.pk).state == S.RELATIVE_JOINED


def test_the_call_goes_back_to_booked_only_when_the_last_relative_expected_refuses(
    family_call, settings
):
    call, legs = family_call
    for leg in legs:
        actions.do_record_consent(
            call, "terms", accepted=False, client_ip=None, user_agent="", language="fr", leg=leg
        )
    call.refresh_from_db()
    assert call.state == S.BOOKED
    # Calling again asks everyone again, each with a new code.
    actions.do_start_call(call.booking, device_label="Borne 1")
    assert Call.objects.get(pk=call.pk).state == S.CODE_SENT
    assert not CallRelative.objects.filter(call=call, refused_at__isnull=False).exists()
    assert call.codes.filter(voided_at=None).count() == 3


def test_a_relative_hanging_up_leaves_the_call_to_the_others_and_the_last_ends_it(
    family_call, settings
):
    call, legs = family_call
    page = Client()
    link, code = _link_and_code(_messages(settings)[legs[0].contact.phone_number])
    page.post(f"/j/{link}", {"code": code})
    _consents(page)
    actions.do_record_consent(
        call, "terms", accepted=False, client_ip=None, user_agent="", language="fr", leg=legs[2]
    )

    assert page.post("/appel/raccrocher")["Location"].endswith("/fin")
    call.refresh_from_db()
    assert call.is_open, "Lina is still expected"
    legs[0].refresh_from_db()
    assert legs[0].left_at is not None
    assert "Il continue pour les autres participants" in page.get("/fin").content.decode()

    actions.do_relative_hang_up(call, legs[1])
    call.refresh_from_db()
    assert call.state == S.ENDED and call.end_reason == Call.EndReason.HUNG_UP_RELATIVE


def test_staff_remove_one_relative_with_a_reason_and_the_call_goes_on(family_call, settings):
    call, legs = family_call
    establishment = call.booking.room.quarter.establishment
    console = Client()
    sign_in(console, staff_with_role("guard", establishment))
    remove = f"/console/appels/{call.pk}/proches/1/retirer/"
    assert console.post(remove, {"reason": "  "}).status_code == 302
    legs[1].refresh_from_db()
    assert legs[1].removed_at is None, "a removal needs its reason"

    page = console.post(remove, {"reason": "Propos menaçants"}, follow=True)
    assert "Proche retiré de l&#x27;appel." in page.content.decode()
    call.refresh_from_db()
    legs[1].refresh_from_db()
    assert call.is_open
    assert legs[1].removed_at is not None and legs[1].removed_reason == "Propos menaçants"
    assert not call.codes.filter(relative=legs[1], voided_at=None).exists()
    event = AuditEvent.objects.get(action="call.relative_removed")
    assert event.data == {"relative": 1, "reason": "Propos menaçants"}
    # Removed is removed: no code, link or second removal brings them back.
    with pytest.raises(ValidationError):
        actions.do_remove_relative(call, legs[1], staff=None, reason="encore")
    link, code = _link_and_code(_messages(settings)[legs[1].contact.phone_number])
    assert Client().post(f"/j/{link}", {"code": code}).status_code == 400
    # Staff of another establishment cannot remove anyone.
    other = staff_with_role("guard", ready_call().site.establishment)
    outsider = Client()
    sign_in(outsider, other)
    assert (
        outsider.post(f"/console/appels/{call.pk}/proches/2/retirer/", {"reason": "x"}).status_code
        == 404
    )
    assert CallRelative.objects.get(pk=legs[2].pk).removed_at is None


@pytest.mark.parametrize("per_relative", [False, True])
def test_a_call_of_several_is_charged_per_call_unless_the_establishment_says_per_relative(
    family_call, settings, per_relative
):
    call, legs = family_call
    establishment = call.booking.room.quarter.establishment
    establishment.price_per_minute_cents = 20
    establishment.charge_per_relative = per_relative
    establishment.save(update_fields=["price_per_minute_cents", "charge_per_relative"])
    call.booking.detainee.account.ledger.create(amount_cents=10_000, kind="credit", label="x")
    for leg in legs[:2]:
        actions.do_record_consent(
            call, "terms", accepted=True, client_ip=None, user_agent="", language="fr", leg=leg
        )
    actions.do_join(call, "kiosk")
    for leg in legs[:2]:
        actions.do_join(call, "relative", leg=leg)
    Call.objects.filter(pk=call.pk).update(
        state=S.LIVE, started_at=timezone.now() - timedelta(seconds=150)
    )
    actions.do_end_call(call, Call.EndReason.HUNG_UP_DETAINEE, by="kiosk")

    call.refresh_from_db()
    entry = call.booking.detainee.account.ledger.get(kind="call_charge")
    # Three minutes begun; two relatives took part, the third never came.
    assert call.charged_cents == (120 if per_relative else 60)
    assert entry.amount_cents == -call.charged_cents
    assert ("tarif par proche" if per_relative else "tarif par appel") in entry.label
    console = Client()
    sign_in(console, staff_with_role("director", establishment))
    page = console.get(f"/console/appels/{call.pk}/").content.decode()
    rule = "tarif par proche, 2 proches" if per_relative else "tarif par appel"
    assert f"Facturé : {call.charged_cents / 100:.2f} €" in page and rule in page


def test_a_new_code_asked_from_a_link_goes_to_that_relative_only(family_call, settings):
    call, legs = family_call
    texts = _messages(settings)
    link, code = _link_and_code(texts[legs[1].contact.phone_number])
    page = _enters(link, code)
    _consents(page)  # Lina is in: her new device asks for a code from her link
    Call.objects.filter(pk=call.pk).update(deadline=timezone.now() + timedelta(minutes=20))
    before = {
        leg.pk: set(call.codes.filter(relative=leg).values_list("pk", flat=True)) for leg in legs
    }

    assert Client().post(f"/j/{link}/nouveau-code").status_code == 302

    after = {
        leg.pk: set(call.codes.filter(relative=leg).values_list("pk", flat=True)) for leg in legs
    }
    assert len(after[legs[1].pk] - before[legs[1].pk]) == 1
    assert after[legs[0].pk] == before[legs[0].pk] and after[legs[2].pk] == before[legs[2].pk]
    new_text = _messages(settings)[legs[1].contact.phone_number]
    new_link, new_code = _link_and_code(new_text)
    assert new_link == link and new_code != code
    # The others' codes still open their own places.
    other_link, other_code = _link_and_code(texts[legs[0].contact.phone_number])
    assert _enters(other_link, other_code)


def test_after_every_relative_refused_a_new_code_goes_to_each_again(family_call, settings):
    call, legs = family_call
    texts = _messages(settings)
    for leg in legs:
        link, code = _link_and_code(texts[leg.contact.phone_number])
        page = _enters(link, code)  # each used their code, then refused
        assert page.post("/conditions", {"decision": "refuse"})["Location"].endswith("/fin")
    assert Call.objects.get(pk=call.pk).state == S.BOOKED

    actions.do_send_new_code(call, device_label="Borne 1")

    again = _messages(settings)
    for leg in legs:
        link, code = _link_and_code(again[leg.contact.phone_number])
        assert code != _link_and_code(texts[leg.contact.phone_number])[1]
        _consents(_enters(link, code))
