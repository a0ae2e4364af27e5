"""Issue #17, finding 6, in a real browser: every page, loaded in Debian Chromium as the
person it is for, raises no Content-Security-Policy violation.

Pages are served by Django's live server (the CSP header is the same under daphne: it is
set by a middleware); each is visited as its principal: a relative in a call, a kiosk with
its detainee signed in, a national administrator with the second factor.
"""

import re

import pytest
from django.contrib import admin
from django.test import Client
from playwright.sync_api import sync_playwright

from calls.access import KIOSK_COOKIE
from calls.tests.helpers import ready_call, sent_code, start
from tests.factories import sign_in, staff_with_role
from tests.security.test_bad_input import SKIP, _fill, _objects, _patterns

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
# Reported by the page itself, before any script of ours runs.
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _cookies(client: Client, base_url: str) -> list[dict]:
    return [{"name": k, "value": m.value, "url": base_url} for k, m in client.cookies.items()]


def _pages(settings):
    ready = ready_call()
    call = start(ready)
    code = sent_code(settings)
    admin_user = staff_with_role("national_admin", None, is_superuser=True)
    objects = _objects(call, admin_user)
    staff = sign_in(Client(), admin_user)
    kiosk = Client()
    kiosk.cookies[KIOSK_COOKIE] = ready.credential
    kiosk.post("/kiosk/", {"prison_number": ready.site.detainee.prison_number, "pin": "1234"})
    relative = Client()
    relative.post(f"/j/{call.link_token}", {"code": code})
    relative.post("/conditions", {"decision": "accept"})
    relative.post("/surveillance", {"decision": "accept"})
    principals = {"console": staff, "admin": staff, "kiosk": kiosk, "": relative}
    pages: dict[str, list[str]] = {"console": [], "kiosk": [], "": [], "anonymous": []}
    for name, route in _patterns():
        if name in SKIP or "ws/" in route or name.startswith(("notify:", "bookings:")):
            continue
        part = name.split(":")[0] if name.split(":")[0] in principals else ""
        short = name.split(":")[-1]
        pk = next((pk for prefix, pk in objects.items() if short.startswith(prefix)), None)
        url = _fill(
            route,
            {
                "pk": pk or call.booking_id,
                "call_id": call.pk,
                "link_token": call.link_token,
                "code": ready.site.establishment.code,
            },
        )
        # Only what the person opens as a page: a GET that renders HTML.
        response = principals[part].get(url)
        if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
            pages[part].append(url)
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        pages["console"].append(base)
        first = model._default_manager.first()
        if first is not None:
            pages["console"].append(f"{base}{first.pk}/change/")
    pages["console"] += ["/admin/", "/console/enregistrements/?date=2024-13-45", "/console/nope"]
    pages["anonymous"] += ["/", f"/j/{call.link_token}", "/console/connexion/", "/kiosk/activer"]
    return principals, pages


def test_no_page_raises_a_content_security_policy_violation(live_server, settings):
    principals, pages = _pages(settings)
    assert sum(len(urls) for urls in pages.values()) > 60
    violations: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--use-fake-ui-for-media-stream"],
        )
        try:
            for part, urls in pages.items():
                context = browser.new_context(base_url=live_server.url, locale="fr-FR")
                if part != "anonymous":
                    context.add_cookies(_cookies(principals[part], live_server.url))
                context.add_init_script(LISTEN)
                page = context.new_page()
                console: list[str] = []
                page.on(
                    "console",
                    lambda message, sink=console: (
                        sink.append(message.text)
                        if re.search(r"Content Security Policy|Refused to", message.text)
                        else None
                    ),
                )
                for url in urls:
                    response = page.goto(url, wait_until="load")
                    if "script-src 'self'" not in response.headers.get(
                        "content-security-policy", ""
                    ):
                        violations.append(f"{part or 'relative'} {url}: no policy")
                    page.wait_for_function("document.readyState === 'complete'")
                    page.evaluate("() => new Promise((done) => requestAnimationFrame(done))")
                    found = page.evaluate("() => window.__csp") + console
                    violations += [f"{part or 'relative'} {url}: {v}" for v in found]
                    console.clear()
                context.close()
        finally:
            browser.close()
    assert not violations, "\n".join(violations)
