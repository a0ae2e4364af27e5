"""A refusal in the console is a console page that names the roles that may do it; a
call and its recording lead to each other."""

from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from recordings.models import Recording
from tests.factories import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def _page(response) -> str:
    return unescape(response.content.decode())


def test_a_guard_who_may_not_replay_is_told_which_roles_may(client, two_sides):
    a, _b = two_sides
    sign_in(client, a.staff["guard"])
    response = client.get(reverse("console:recordings"))
    assert response.status_code == 403
    page = _page(response)
    # The console's own page: its navigation, not Django's bare "403 Forbidden".
    assert 'class="console-nav"' in page and "<h1>Accès refusé</h1>" in page
    assert "Cette page sert à réécouter les enregistrements." in page
    assert "Administrateur national, Directeur, Officier / gradé." in page
    assert "Surveillant – " + a.ready.site.establishment.name in page


def test_an_action_refused_deeper_down_names_its_roles_too(client, two_sides):
    a, _b = two_sides
    # Booking officers see bookings, but only staff who book or control calls mark an
    # absence: bookings.actions refuses it, not the view's decorator.
    sign_in(client, a.staff["auditor"])
    response = client.post(reverse("console:booking_no_show", args=[a.call.booking_id]))
    assert response.status_code == 403
    page = _page(response)
    assert "Accès refusé" in page and "Directeur" in page and "Auditeur – " in page


def test_the_refusal_page_speaks_english_to_english_readers(client, two_sides):
    a, _b = two_sides
    sign_in(client, a.staff["booking_officer"])
    response = client.get(reverse("console:live_wall"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    page = _page(response)
    assert "Access denied" in page and "This page is for watching calls live." in page


def test_refusals_outside_the_console_are_left_to_django(client):
    from django.test import RequestFactory

    from parloir import access
    from www.console.errors import forbidden

    request = RequestFactory().get("/admin/")
    response = forbidden(request, access.Forbidden(access.Can.VIEW))
    assert response.status_code == 403
    assert b"console-nav" not in response.content


def _recording(call) -> Recording:
    return Recording.objects.create(
        call=call,
        state=Recording.State.PENDING,
        retention_days=90,
        retention_until=timezone.now() + timezone.timedelta(days=90),
    )


def test_the_recordings_list_numbers_each_call_and_links_to_it(client, two_sides):
    a, _b = two_sides
    recording = _recording(a.call)
    sign_in(client, a.staff["supervisor"])
    page = _page(client.get(reverse("console:recordings")))
    watch = reverse("console:call_watch", args=[a.call.pk])
    assert f'<a href="{watch}">Appel #{a.call.pk}</a>' in page
    detail = _page(client.get(reverse("console:recording_detail", args=[recording.pk])))
    assert f'<a href="{watch}">#{a.call.pk}</a>' in detail


def test_a_calls_page_links_to_its_recording_for_those_who_may_replay(client, two_sides):
    a, _b = two_sides
    recording = _recording(a.call)
    link = reverse("console:recording_detail", args=[recording.pk])
    sign_in(client, a.staff["supervisor"])
    page = _page(client.get(reverse("console:call_watch", args=[a.call.pk])))
    assert f'<a href="{link}">En attente de traitement</a>' in page
    # A guard watches the call but does not replay it: the page says who does.
    sign_in(client, a.staff["guard"])
    page = _page(client.get(reverse("console:call_watch", args=[a.call.pk])))
    assert link not in page
    assert "réécoute : Administrateur national, Directeur, Officier / gradé" in page
