"""The staff console follows the same scoping as the admin."""

import pytest

from tests.admin.conftest import ESTABLISHMENT_ROLES

CONSOLE_URLS = ["/console/", "/console/messages/"]
READS_MESSAGES = {"director", "supervisor", "guard", "booking_officer"}


@pytest.mark.parametrize("role", ESTABLISHMENT_ROLES)
def test_it_never_shows_b_in_the_console(world, as_user, role):
    client = as_user(world.a.staff[role])
    for url in CONSOLE_URLS:
        response = client.get(url)
        expected = 403 if url.endswith("messages/") and role not in READS_MESSAGES else 200
        assert response.status_code == expected, url
        text = response.content.decode().lower()
        for marker in world.b.markers:
            assert marker.lower() not in text, f"{url} shows {marker!r}"


def test_it_lists_only_own_messages(world, as_user):
    page = as_user(world.a.staff["guard"]).get("/console/messages/").content.decode()
    assert "Bonjour de Alpha" in page
    assert "Bonjour de Bravo" not in page
    index = as_user(world.a.staff["guard"]).get("/console/").content.decode()
    assert "Centre pénitentiaire Alpha" in index


def test_it_lists_both_to_a_national_administrator(world, as_user):
    page = as_user(world.national).get("/console/messages/").content.decode()
    assert "Bonjour de Alpha" in page and "Bonjour de Bravo" in page


@pytest.mark.parametrize("who", ["nobody", "superuser"])
def test_it_refuses_the_console_without_a_role(world, as_user, who):
    client = as_user(getattr(world, who))
    for url in CONSOLE_URLS:
        assert client.get(url).status_code == 403, url


def test_it_sends_anonymous_visitors_to_sign_in(client, world):
    for url in CONSOLE_URLS:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/connexion/")
