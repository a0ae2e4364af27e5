"""Issue #17, finding 6: a strict Content-Security-Policy on every page, HSTS, and the
proxy's HTTPS header, configurable and on by default in production. The browser side of
CSP (no violation on any page) is tests/security/test_csp_pages.py."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "url", ["/", "/conditions", "/kiosk/activer", "/console/connexion/", "/admin/", "/nowhere"]
)
def test_every_response_carries_a_strict_policy(client, url):
    response = client.get(url)
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    for source in ("script-src", "style-src"):
        assert "unsafe-inline" not in directives[source]
        assert "unsafe-eval" not in directives[source]
        assert "*" not in directives[source].split()


def test_each_response_draws_its_own_nonce(client):
    first = re.search(r"'nonce-([^']+)'", client.get("/")["Content-Security-Policy"]).group(1)
    second = re.search(r"'nonce-([^']+)'", client.get("/")["Content-Security-Policy"]).group(1)
    assert first != second and len(first) >= 20


def test_no_template_has_inline_script_or_event_handler():
    """What CSP would refuse, caught before a browser does: a <script> with a body and no
    nonce, or an on…= attribute."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>(.*?)</script>", text, re.S):
            attributes, body = match.groups()
            if body.strip() and "nonce=" not in attributes and "json" not in attributes:
                offenders.append(f"{path.relative_to(ROOT)}: inline <script>")
        if re.search(r"<[a-z][^>]*\son[a-z]+\s*=", text):
            offenders.append(f"{path.relative_to(ROOT)}: on…= handler")
        if re.search(r"<[a-z][^>]*\sstyle\s*=", text):
            offenders.append(f"{path.relative_to(ROOT)}: style= attribute")
        if re.search(r"<style\b", text):
            offenders.append(f"{path.relative_to(ROOT)}: inline <style>")
    assert not offenders, offenders


def _settings_in_production(**env) -> dict:
    """parloir.settings as a production process reads them (no PARLOIR_DEBUG)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PARLOIR_", "DJANGO_", "DATABASE_URL"))
    }
    environment.update(
        {
            "PARLOIR_SECRET_KEY": "x" * 50,
            "PARLOIR_AUDIT_KEY": "y" * 50,
            "PARLOIR_VAR_DIR": os.environ["PARLOIR_VAR_DIR"],
        }
    )
    environment.update(env)
    script = (
        "from parloir import settings as s; "
        "print(repr((s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, "
        "s.STAFF_SESSION_IDLE_SECONDS, s.STAFF_SESSION_MAX_SECONDS)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    hsts, proxy, idle, day = eval(output)  # noqa: S307 (our own repr)
    return {"hsts": hsts, "proxy": proxy, "idle": idle, "day": day}


def test_production_turns_on_hsts_and_the_proxy_header_by_default():
    values = _settings_in_production()
    assert values["hsts"] == 365 * 24 * 3600
    assert values["proxy"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert values["idle"] == 30 * 60 and values["day"] == 10 * 3600


def test_hsts_and_the_proxy_header_are_configurable():
    values = _settings_in_production(
        PARLOIR_HSTS_SECONDS="0",
        PARLOIR_PROXY_SSL_HEADER="off",
        PARLOIR_STAFF_SESSION_IDLE_SECONDS="900",
    )
    assert values["hsts"] == 0 and values["proxy"] is None and values["idle"] == 900
    values = _settings_in_production(PARLOIR_PROXY_SSL_HEADER="X-Scheme")
    assert values["proxy"] == ("HTTP_X_SCHEME", "https")


def test_https_from_the_trusted_proxy_earns_hsts_and_nobody_elses_claim_does(client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    proxied = client.get("/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="127.0.0.1")
    assert proxied["Strict-Transport-Security"] == "max-age=31536000"
    forged = client.get("/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="192.0.2.8")
    assert "Strict-Transport-Security" not in forged
