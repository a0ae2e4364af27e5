"""A booking names one to N contacts (issue #19); every one of them is told.

The call layer reaches one relative today (settings.CALL_RELATIVES_SUPPORTED = 1), so a
booking names at most one contact whatever the establishment allows. The tests that
book several raise that setting, as the call layer will once it reaches several.
"""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from bookings import contacts as booking_contacts
from bookings.actions import do_book, do_cancel_booking, do_move_booking
from bookings.models import Booking, BookingContact
from bookings.tests.conftest import MONDAY
from bookings.tests.factories import local
from establishments.models import VideoRoom
from notify.models import Message
from people.actions import do_decide_contact
from people.models import AuthorizedContact, Role
from tests.factories import ContactFactory, VideoRoomFactory, staff_with_role

pytestmark = pytest.mark.django_db


def book_all(site, contacts, hh=10):
    return do_book(
        site.detainee,
        room=site.room,
        contacts=contacts,
        starts_at=local(MONDAY, hh),
        booked_via="kiosk",
    )


@pytest.fixture
def family(site):
    """The site's contact, and two more of the detainee's contacts, one English-speaking."""
    return [
        site.contact,
        ContactFactory(detainee=site.detainee, first_name="Lina", language="en"),
        ContactFactory(detainee=site.detainee, first_name="Yanis"),
    ]


@pytest.fixture
def three_allowed(site, settings):
    settings.CALL_RELATIVES_SUPPORTED = 4
    site.establishment.max_relatives_per_call = 3
    site.establishment.save(update_fields=["max_relatives_per_call"])


def told(purpose):
    return {m.contact_id: m for m in Message.objects.filter(purpose=purpose)}


def test_by_default_a_booking_names_up_to_three_contacts(site, family):
    assert site.establishment.max_relatives_per_call == 3
    with pytest.raises(ValidationError) as refused:
        book_all(site, [*family, ContactFactory(detainee=site.detainee)])
    assert refused.value.code == "contacts"
    assert not Booking.objects.exists() and not Message.objects.exists()
    assert book_all(site, family).all_contacts() == family


def test_an_establishment_may_keep_calls_to_one_relative(site, family):
    site.establishment.max_relatives_per_call = 1
    site.establishment.save(update_fields=["max_relatives_per_call"])
    with pytest.raises(ValidationError) as refused:
        book_all(site, family[:2])
    assert refused.value.code == "contacts"


def test_the_establishment_cannot_allow_more_than_the_call_layer_reaches(site, family, settings):
    settings.CALL_RELATIVES_SUPPORTED = 1
    site.establishment.max_relatives_per_call = 3
    site.establishment.save(update_fields=["max_relatives_per_call"])
    assert booking_contacts.limit(site.establishment) == 1
    with pytest.raises(ValidationError) as refused:
        book_all(site, family[:2])
    assert refused.value.code == "contacts"
    with pytest.raises(ValidationError) as invalid:
        site.establishment.full_clean()
    assert "max_relatives_per_call" in invalid.value.message_dict


def test_a_booking_names_several_contacts_in_order_and_tells_each(site, family, three_allowed):
    booking = book_all(site, family)
    assert booking.contact == family[0]
    assert booking.all_contacts() == family
    assert list(
        BookingContact.objects.filter(booking=booking).values_list("contact_id", "position")
    ) == [(family[1].pk, 1), (family[2].pk, 2)]
    made = told("booking_made")
    assert set(made) == {c.pk for c in family}
    assert made[family[1].pk].to_number == family[1].phone_number
    assert made[family[1].pk].text.startswith(f"{site.detainee.first_name} has booked")
    assert made[family[2].pk].language == "fr"
    assert all(f"/b/{booking.token}.ics" in m.text for m in made.values())


def test_a_move_and_a_cancellation_tell_every_contact(site, family, three_allowed):
    booking = book_all(site, family)
    do_move_booking(booking, starts_at=local(MONDAY, 11), via="kiosk")
    assert set(told("booking_moved")) == {c.pk for c in family}
    do_cancel_booking(booking, reason="Empêchement", via="kiosk")
    assert set(told("booking_cancelled")) == {c.pk for c in family}


@pytest.mark.parametrize(
    "problem",
    ["too_many", "twice", "unapproved", "stranger", "lawyer", "interpreter_alone", "lawyer_3"],
)
def test_every_contact_is_checked(site, family, three_allowed, problem):
    contacts = family[:2]
    if problem == "too_many":
        contacts = [*family, ContactFactory(detainee=site.detainee)]
    elif problem == "twice":
        contacts = [family[0], family[1], family[0]]
    elif problem == "unapproved":
        family[1].status = AuthorizedContact.Status.REQUESTED
        family[1].save(update_fields=["status"])
    elif problem == "stranger":
        contacts = [family[0], ContactFactory()]
    elif problem == "lawyer":
        family[1].relationship = AuthorizedContact.Relationship.LAWYER
        family[1].save(update_fields=["relationship"])
    elif problem == "interpreter_alone":
        # An interpreter is authorized for a lawyer's calls, never for a family's.
        family[1].relationship = AuthorizedContact.Relationship.INTERPRETER
        family[1].save(update_fields=["relationship"])
    elif problem == "lawyer_3":
        # A lawyer, an interpreter, and someone else.
        family[0].relationship = AuthorizedContact.Relationship.LAWYER
        family[1].relationship = AuthorizedContact.Relationship.INTERPRETER
        for contact in family[:2]:
            contact.save(update_fields=["relationship"])
        contacts = family
    with pytest.raises(ValidationError):
        book_all(site, contacts)
    assert not Booking.objects.exists() and not Message.objects.exists()


def test_revoking_any_named_contact_cancels_the_booking_and_tells_the_others(
    site, family, three_allowed
):
    booking = book_all(site, family)
    director = staff_with_role(Role.Name.DIRECTOR, site.establishment)
    do_decide_contact(family[2], "revoked", reason="Menaces", actor=director)
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CANCELLED
    assert set(told("booking_cancelled")) == {c.pk for c in family}


def test_the_console_books_several_contacts_when_allowed(client, site, family, three_allowed):
    from datetime import UTC

    from django.urls import reverse

    from tests.factories import sign_in

    sign_in(client, staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment))
    url = reverse("console:booking_new")
    form = client.get(url, {"detainee": site.detainee.pk}).content.decode()
    assert form.count("Autre proche (facultatif)") == 2
    slot = f"{site.room.pk}|{local(MONDAY, 10).astimezone(UTC).isoformat()}"
    response = client.post(
        url,
        {"detainee": site.detainee.pk, "slot": slot, "contact": [family[0].pk, "", family[2].pk]},
    )
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert booking.all_contacts() == [family[0], family[2]]
    assert set(told("booking_made")) == {family[0].pk, family[2].pk}
    detail = client.get(response["Location"]).content.decode()
    assert family[2].last_name in detail


def test_the_booking_screens_offer_one_contact_where_calls_reach_one(client, site, family):
    from django.urls import reverse

    from tests.factories import sign_in

    site.establishment.max_relatives_per_call = 1
    site.establishment.save(update_fields=["max_relatives_per_call"])
    sign_in(client, staff_with_role(Role.Name.BOOKING_OFFICER, site.establishment))
    form = client.get(reverse("console:booking_new"), {"detainee": site.detainee.pk})
    assert "Autre proche (facultatif)" not in form.content.decode()


def test_the_kiosk_books_several_contacts_when_allowed(client, settings):
    import re
    from html import unescape

    from calls.access import KIOSK_COOKIE
    from calls.tests.helpers import ready_call

    settings.CALL_RELATIVES_SUPPORTED = 4
    ready = ready_call()
    ready.site.establishment.max_relatives_per_call = 2
    ready.site.establishment.save(update_fields=["max_relatives_per_call"])
    sister = ContactFactory(detainee=ready.site.detainee, first_name="Lina", language="en")
    client.cookies[KIOSK_COOKIE] = ready.credential
    client.post("/kiosk/", {"prison_number": ready.site.detainee.prison_number, "pin": "1234"})
    page = unescape(client.get("/kiosk/reserver").content.decode())
    assert page.count("Autre proche (facultatif)") == 1
    slot = re.findall(r'name="slot" value="([^"]+)"', page)[-1]
    response = client.post(
        "/kiosk/reserver", {"contact": [ready.site.contact.pk, sister.pk], "slot": unescape(slot)}
    )
    assert response["Location"] == "/kiosk/accueil"
    booking = Booking.objects.exclude(pk=ready.booking.pk).get()
    assert booking.all_contacts() == [ready.site.contact, sister]
    assert set(told("booking_made")) == {ready.site.contact.pk, sister.pk}
    home = unescape(client.get("/kiosk/accueil").content.decode())
    assert f"{sister.first_name} {sister.last_name}" in home


def test_a_lawyers_call_may_add_one_interpreter_and_stays_unrecorded(site, family, three_allowed):
    from calls.actions import do_start_call

    lawyer, interpreter = family[0], family[1]
    lawyer.relationship = AuthorizedContact.Relationship.LAWYER
    interpreter.relationship = AuthorizedContact.Relationship.INTERPRETER
    for contact in (lawyer, interpreter):
        contact.save(update_fields=["relationship"])
    lawyers_room = VideoRoomFactory(quarter=site.quarter, for_lawyers=True)
    # In either order: the interpreter first does not make the call a family's.
    booking = do_book(
        site.detainee,
        room=lawyers_room,
        contacts=[interpreter, lawyer],
        starts_at=local(MONDAY, 10),
        booked_via="kiosk",
    )
    assert booking.all_contacts() == [interpreter, lawyer]
    # The room is no longer for lawyers by the time of the call: the contacts decide.
    VideoRoom.objects.filter(pk=lawyers_room.pk).update(for_lawyers=False)
    Booking.objects.filter(pk=booking.pk).update(starts_at=timezone.now())
    call = do_start_call(Booking.objects.get(pk=booking.pk), device_label="Borne")
    assert call.recorded is False
    assert call.relatives.count() == 2
