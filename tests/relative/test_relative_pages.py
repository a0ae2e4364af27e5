"""The relative's side at its best, in Chromium through real Janus: accessibility (axe-core
on every portal and kiosk page, the keyboard alone), a small phone's screen, help from
every error, and three interactions from the SMS link to the detainee.
"""

import re

import pytest

from calls.models import Call
from calls.tests.helpers import ready_call
from tests.e2e.browser import Browsers, browsers_on, kiosk_page, relative_joins, wait_remote_playing
from tests.e2e.stack import CHROMIUM_ARGS
from tests.relative.support import (
    A11Y_DIR,
    axe_violations,
    describe,
    ensure_node_modules,
    kiosk_calls,
    layout_problems,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

SMALL_PHONE = {
    "viewport": {"width": 360, "height": 640},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


@pytest.fixture(scope="module", autouse=True)
def axe_core():
    ensure_node_modules(A11Y_DIR, "axe-core/axe.min.js")


def test_the_pages_before_a_call_have_no_axe_violation(stack, relative_runner):
    ready = ready_call()
    establishment = ready.site.establishment

    async def scenario():
        found = {}
        async with Browsers() as browsers:
            page = await (await browsers.context(stack.base_url)).new_page()
            for name, url in [
                ("code", "/"),
                ("help index", "/aide"),
                ("help", f"/aide/{establishment.code}"),
                ("accessibility statement", "/accessibilite"),
                ("offline", "/hors-ligne"),
                ("pre-call check", "/verifier"),
                ("kiosk activation", "/kiosk/activer"),
                ("kiosk not registered", "/kiosk/"),
            ]:
                await page.goto(url)
                found[name] = await axe_violations(page)
            await page.goto("/")
            await page.fill("#code", "000000")
            await page.get_by_role("button", name="Connexion").click()
            await page.wait_for_selector("#code-error")
            found["code error"] = await axe_violations(page)
            await page.goto("/verifier")
            await page.get_by_role("button", name="Commencer le test").click()
            await page.wait_for_function(
                "() => ['ok', 'problem'].includes(document.getElementById('check').dataset.state)",
                timeout=20000,
            )
            found["pre-call check, done"] = await axe_violations(page)
            await page.goto("/kiosk/activer")
            await page.fill("#credential", "not-a-credential")
            await page.get_by_role("button", name="Activer").click()
            await page.wait_for_selector(".error")
            found["kiosk activation error"] = await axe_violations(page)

            kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
            await kiosk.goto("/kiosk/")
            found["kiosk sign-in"] = await axe_violations(kiosk)
            await kiosk.fill("#prison_number", ready.site.detainee.prison_number)
            await kiosk.fill("#pin", "0000")
            await kiosk.click("main button[type=submit]")
            await kiosk.wait_for_selector(".error")
            found["kiosk sign-in error"] = await axe_violations(kiosk)
            await kiosk.fill("#prison_number", ready.site.detainee.prison_number)
            await kiosk.fill("#pin", "1234")
            await kiosk.click("main button[type=submit]")
            await kiosk.wait_for_url(re.compile(r"/kiosk/accueil$"))
            found["kiosk home"] = await axe_violations(kiosk)
            await kiosk.goto("/kiosk/reserver")
            found["kiosk booking"] = await axe_violations(kiosk)
        return found

    found = stack.run(relative_runner, scenario(), timeout=120)
    assert len(found) == 15
    assert not any(found.values()), describe(found)


def test_the_call_pages_have_no_axe_violation_and_fit_a_small_phone(stack, relative_runner):
    ready = ready_call()
    with browsers_on(relative_runner) as browsers:
        kiosk, link, code = kiosk_calls(stack, relative_runner, browsers, ready)

        async def scenario():
            found, layout = {}, {}
            found["kiosk call"] = await axe_violations(kiosk)
            context = await browsers.context(stack.base_url, **SMALL_PHONE)
            phone = await context.new_page()

            async def look(name):
                found[name] = await axe_violations(phone)
                layout[name] = await layout_problems(phone)

            await phone.goto(f"{link}#{code}")
            await phone.wait_for_function("() => document.getElementById('code').value !== ''")
            await look("code")
            await phone.get_by_role("button", name="Connexion").click()
            await phone.wait_for_url(re.compile(r"/conditions$"))
            await look("terms")
            await phone.get_by_role("button", name="Accepter").click()
            await phone.wait_for_url(re.compile(r"/surveillance$"))
            await look("monitoring")
            await phone.get_by_role("button", name="Accepter").click()
            await phone.wait_for_url(re.compile(r"/appel$"))
            await look("call, arriving")
            await wait_remote_playing(phone)
            await wait_remote_playing(kiosk)
            await phone.wait_for_function("() => document.getElementById('call').dataset.quality")
            await look("call, live")
            found["kiosk call, live"] = await axe_violations(kiosk)
            await kiosk.wait_for_function("() => document.getElementById('call').dataset.quality")
            quality = [await p.locator("#quality-text").inner_text() for p in (phone, kiosk)]
            await phone.get_by_role("button", name="Raccrocher").click()
            await phone.wait_for_url(re.compile(r"/fin$"))
            await look("ended")
            return found, layout, quality

        found, layout, quality = stack.run(relative_runner, scenario(), timeout=120)
    assert not any(found.values()), describe(found)
    assert not any(layout.values()), describe(layout)
    # Both sides say how the link is, in words (the bars only repeat it).
    assert all(q in {"Bonne connexion", "Connexion moyenne"} for q in quality), quality
    assert Call.objects.get(booking=ready.booking).end_reason == Call.EndReason.HUNG_UP_RELATIVE


def test_the_relative_goes_from_code_to_call_with_the_keyboard_alone(stack, relative_runner):
    ready = ready_call()
    with browsers_on(relative_runner) as browsers:
        _kiosk, link, code = kiosk_calls(stack, relative_runner, browsers, ready)

        async def tab_to(page, selector, limit=30):
            """Press Tab until ``selector`` has the focus; return how it shows the focus."""
            for _ in range(limit):
                await page.keyboard.press("Tab")
                focused = await page.evaluate(
                    """(selector) => {
                      const el = document.activeElement;
                      if (!el || !el.matches(selector)) return null;
                      const style = getComputedStyle(el);
                      return { outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
                    }""",
                    selector,
                )
                if focused:
                    return focused
            raise AssertionError(f"Tab never reached {selector}")

        async def scenario():
            page = await (await browsers.context(stack.base_url)).new_page()
            # Typed by hand from the SMS, without the link's pre-filled code.
            await page.goto(link)
            await page.evaluate("() => document.activeElement && document.activeElement.blur()")
            focus = [await tab_to(page, "#code")]
            await page.keyboard.type(code)
            await page.keyboard.press("Enter")
            await page.wait_for_url(re.compile(r"/conditions$"))
            focus.append(await tab_to(page, "button[value=accept]"))
            await page.keyboard.press("Enter")
            await page.wait_for_url(re.compile(r"/surveillance$"))
            focus.append(await tab_to(page, "button[value=accept]"))
            await page.keyboard.press("Enter")
            await page.wait_for_url(re.compile(r"/appel$"))
            await wait_remote_playing(page)
            focus.append(await tab_to(page, "#low-bandwidth"))
            await page.keyboard.press("Space")
            await page.wait_for_function(
                "() => document.getElementById('call').dataset.lowBandwidth === 'on'"
            )
            focus.append(await tab_to(page, "#hangup"))
            await page.keyboard.press("Enter")
            await page.wait_for_url(re.compile(r"/fin$"))
            return focus

        focus = stack.run(relative_runner, scenario(), timeout=120)
    assert all(f["outline"] != "none" and f["width"] >= 2 for f in focus), focus
    assert Call.objects.get(booking=ready.booking).end_reason == Call.EndReason.HUNG_UP_RELATIVE


def test_from_the_sms_link_to_the_detainee_in_three_interactions(stack, relative_runner):
    """docs/portal.md: open the link, Connexion, Accepter, Accepter; then the detainee."""
    ready = ready_call()
    with browsers_on(relative_runner) as browsers:
        kiosk, link, code = kiosk_calls(stack, relative_runner, browsers, ready)

        async def scenario():
            page = await (await browsers.context(stack.base_url)).new_page()
            interactions = []

            async def press(name):
                interactions.append((page.url.rsplit("/", 1)[-1], name))
                await page.get_by_role("button", name=name).click()

            await page.goto(f"{link}#{code}")  # opening the SMS link is not counted
            await press("Connexion")
            await page.wait_for_url(re.compile(r"/conditions$"))
            await press("Accepter")
            await page.wait_for_url(re.compile(r"/surveillance$"))
            await press("Accepter")
            await page.wait_for_url(re.compile(r"/appel$"))
            await wait_remote_playing(page)
            await wait_remote_playing(kiosk)
            return interactions

        interactions = stack.run(relative_runner, scenario(), timeout=90)
    assert len(interactions) <= 3, interactions
    assert [name for _, name in interactions] == ["Connexion", "Accepter", "Accepter"]


def test_every_error_leads_to_the_establishments_help(stack, relative_runner):
    ready = ready_call()
    establishment = ready.site.establishment
    help_url = f"/aide/{establishment.code}"
    refusing = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]

    async def help_links(page):
        return await page.evaluate(
            """() => [...document.querySelectorAll('main a[href^="/aide"]')]
                 .filter((a) => a.offsetParent !== null).map((a) => a.getAttribute('href'))"""
        )

    async def follow(page, href):
        """The help page behind a link shows the establishment's phone number."""
        await page.goto(href)
        return establishment.contact_phone in await page.content()

    with (
        browsers_on(relative_runner) as browsers,
        browsers_on(relative_runner, args=refusing) as denying,
    ):
        kiosk, link, code = kiosk_calls(stack, relative_runner, browsers, ready)

        async def scenario():
            seen = {}
            page = await (await browsers.context(stack.base_url)).new_page()
            await page.goto(link)
            await page.fill("#code", "000000")
            await page.get_by_role("button", name="Connexion").click()
            await page.wait_for_selector("#code-error")
            seen["code error (SMS link)"] = await help_links(page)
            await page.goto("/")
            await page.fill("#code", "000000")
            await page.get_by_role("button", name="Connexion").click()
            await page.wait_for_selector("#code-error")
            seen["code error (typed)"] = await help_links(page)
            await page.goto("/hors-ligne")
            seen["offline"] = await help_links(page)

            refused = await (
                await denying.browser.new_context(base_url=stack.base_url, locale="fr-FR")
            ).new_page()
            await relative_joins(refused, link, code)
            await refused.wait_for_selector("#media-help", state="visible", timeout=10000)
            seen["camera refused"] = await help_links(refused)
            await refused.goto("/fin")
            seen["ended"] = await help_links(refused)

            kiosk_errors = await (await browsers.context(stack.base_url)).new_page()
            await kiosk_errors.goto("/kiosk/")
            seen["kiosk not registered"] = await help_links(kiosk_errors)
            await kiosk_errors.goto("/kiosk/activer")
            await kiosk_errors.fill("#credential", "nope")
            await kiosk_errors.get_by_role("button", name="Activer").click()
            await kiosk_errors.wait_for_selector(".error")
            seen["kiosk activation error"] = await help_links(kiosk_errors)
            other_kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
            await other_kiosk.goto("/kiosk/")
            await other_kiosk.fill("#prison_number", "999999")
            await other_kiosk.fill("#pin", "0000")
            await other_kiosk.click("main button[type=submit]")
            await other_kiosk.wait_for_selector(".error")
            seen["kiosk sign-in error"] = await help_links(other_kiosk)

            reached = {}
            for name, hrefs in seen.items():
                reached[name] = bool(hrefs) and await follow(kiosk_errors, hrefs[0])
            return seen, reached

        seen, reached = stack.run(relative_runner, scenario(), timeout=120)
    assert all(reached.values()), seen
    # Where the establishment is known, the link goes straight to its page.
    for name in ["code error (SMS link)", "camera refused", "ended", "kiosk sign-in error"]:
        assert help_url in seen[name], (name, seen[name])
