"""Staff in the console, with real browsers: watch both sides, warn, interrupt."""

import time

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from calls.models import Call
from calls.tests.helpers import ready_call
from tests.e2e.browser import browsers_on, live_call, wait_call_state
from tests.factories import staff_with_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

PLAYING = """(id) => {
  const v = document.getElementById(id);
  return !!v && v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 0.5;
}"""


def _token(device: TOTPDevice) -> str:
    oath = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    oath.time = time.time()
    return f"{oath.token():06d}"


def test_a_guard_watches_warns_and_interrupts_a_live_call(stack, e2e_runner):
    ready = ready_call()
    guard = staff_with_role("guard", ready.site.establishment)
    device = TOTPDevice.objects.create(user=guard, name="phone", confirmed=True)

    async def sign_in_staff():
        page = await (await browsers.context(stack.base_url)).new_page()
        await page.goto("/console/connexion/")
        await page.fill("#username", guard.username)
        await page.fill("#password", "correct horse battery")
        await page.get_by_role("button", name="Se connecter").click()
        await page.wait_for_url("**/connexion/totp/**")
        await page.fill("#token", _token(device))
        await page.get_by_role("button", name="Vérifier").click()
        await page.wait_for_url("**/console/")
        return page

    async def watch_and_warn(staff, kiosk, relative, call_id):
        await staff.goto(f"/console/appels/{call_id}/")
        for video in ("watch-detainee", "watch-relative"):
            await staff.wait_for_function(PLAYING, arg=video, timeout=20000)
        # The participants are not told anything about the watcher.
        alerts_before = [await p.locator("#alert").is_visible() for p in (kiosk, relative)]
        # The preset warning: each side reads it in its own language.
        await staff.get_by_role("button", name="Avertir").click()
        for page, words in ((kiosk, "face à la caméra"), (relative, "in front of the camera")):
            await page.wait_for_function(
                f"() => document.getElementById('alert').textContent.includes('{words}')",
                timeout=5000,
            )
        return alerts_before

    async def interrupt(staff, kiosk, relative):
        await staff.select_option("#category", "security")
        await staff.fill("#reason", "Échange d'objets devant la caméra")
        clicked = time.monotonic()
        await staff.get_by_role("button", name="Interrompre l'appel").click()
        states = [await wait_call_state(p, ["interrupted"], 5000) for p in (kiosk, relative)]
        elapsed = time.monotonic() - clicked
        alerts = [await p.locator("#alert").inner_text() for p in (kiosk, relative)]
        return states, elapsed, alerts

    with browsers_on(e2e_runner) as browsers:
        try:
            # The relative reads English, the guard and the detainee French.
            kiosk, relative = e2e_runner.run(
                live_call(browsers, stack.base_url, ready, stack.outbox, relative_locale="en-GB"),
                90,
            )
            staff = e2e_runner.run(sign_in_staff(), 60)
            call = Call.objects.get(booking=ready.booking)
            alerts_before = e2e_runner.run(watch_and_warn(staff, kiosk, relative, call.pk), 60)
            states, elapsed, alerts = e2e_runner.run(interrupt(staff, kiosk, relative), 60)
        except Exception:
            print(stack.log_tail("web", 150))
            raise
    assert alerts_before == [False, False]
    assert states == ["interrupted", "interrupted"]
    assert elapsed < 2
    # Each side reads why in its own language.
    assert "Interrompu par l'administration : Sécurité" in alerts[0], alerts
    assert "Interrupted by the administration: Security" in alerts[1], alerts
    logged = list(
        AuditEvent.objects.filter(target_id=str(call.pk)).values_list("action", flat=True)
    )
    for action in ("call.watch_started", "call.warned", "call.interrupted"):
        assert action in logged
