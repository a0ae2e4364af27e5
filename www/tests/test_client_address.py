"""Behind the reverse proxy, a relative's wrong codes count against his own address."""

import pytest

from calls.models import CodeAttempt
from parloir.env import ConfigurationError, networks

pytestmark = pytest.mark.django_db

PROXY = "127.0.0.1"


def _wrong_code_from(client, peer: str, forwarded: str | None = None) -> str:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    client.post("/", {"code": "000000"}, REMOTE_ADDR=peer, **headers)
    return CodeAttempt.objects.latest("pk").client


def test_it_takes_the_relatives_address_from_a_trusted_proxy(client, settings):
    settings.TRUSTED_PROXIES = [PROXY]
    assert _wrong_code_from(client, PROXY, "203.0.113.7") == "203.0.113.7"
    # What the relative's own network added comes first; the nearest address counts.
    assert _wrong_code_from(client, PROXY, "10.1.2.3, 198.51.100.9") == "198.51.100.9"


def test_it_skips_the_proxies_of_a_chain_it_trusts(client, settings):
    settings.TRUSTED_PROXIES = [PROXY, "10.0.0.0/8"]
    assert _wrong_code_from(client, PROXY, "203.0.113.7, 10.4.0.2") == "203.0.113.7"


def test_it_ignores_the_header_from_anybody_else(client, settings):
    settings.TRUSTED_PROXIES = [PROXY]
    assert _wrong_code_from(client, "198.51.100.2", "203.0.113.7") == "198.51.100.2"


def test_it_ignores_the_header_when_no_proxy_is_trusted(client, settings):
    settings.TRUSTED_PROXIES = []
    assert _wrong_code_from(client, PROXY, "203.0.113.7") == PROXY


def test_a_mangled_header_keeps_the_proxys_address(client, settings):
    settings.TRUSTED_PROXIES = [PROXY]
    assert _wrong_code_from(client, PROXY, "not-an-address") == PROXY


def test_it_refuses_a_setting_that_is_not_an_address(monkeypatch):
    monkeypatch.setenv("PARLOIR_TRUSTED_PROXIES", "127.0.0.1, proxy.local")
    with pytest.raises(ConfigurationError, match="proxy.local"):
        networks("PARLOIR_TRUSTED_PROXIES")
    monkeypatch.setenv("PARLOIR_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    assert networks("PARLOIR_TRUSTED_PROXIES") == ["127.0.0.1", "10.0.0.0/8"]
