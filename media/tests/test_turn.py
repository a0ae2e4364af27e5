import base64
import hashlib
import hmac

import pytest

from media.turn import credential, ice_servers
from parloir.env import ConfigurationError


def test_it_mints_coturn_rest_api_credentials():
    username, password = credential("s3cret", "participant-42", ttl=3600, now=1_700_000_000)
    assert username == "1700003600:participant-42"
    expected = hmac.new(b"s3cret", b"1700003600:participant-42", hashlib.sha1).digest()
    assert base64.b64decode(password) == expected
    assert len(base64.b64decode(password)) == 20


def test_it_refuses_identities_that_would_confuse_coturn():
    with pytest.raises(ValueError, match="':'"):
        credential("s3cret", "a:b", ttl=60)


def test_it_returns_browser_ice_servers(settings):
    settings.TURN_URLS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:443"]
    settings.TURN_SECRET = "s3cret"
    settings.TURN_TTL_SECONDS = 7200
    (server,) = ice_servers("p1", now=1_000)
    assert server["urls"] == settings.TURN_URLS
    assert server["username"] == "8200:p1"
    assert server["credential"] == credential("s3cret", "p1", ttl=7200, now=1_000)[1]


def test_it_returns_no_ice_server_without_turn(settings):
    settings.TURN_URLS = []
    assert ice_servers("p1") == []
    settings.TURN_URLS = ["turn:turn.example.org"]
    settings.TURN_SECRET = None
    with pytest.raises(ConfigurationError, match="PARLOIR_TURN_SECRET"):
        ice_servers("p1")
