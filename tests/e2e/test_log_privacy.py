"""A whole call (kiosk, relative, media through Janus, hang-up) with every process of the
stack logging at DEBUG: no log holds the code, the relative's number or the call link."""

import pytest

from calls.models import Call
from calls.tests.helpers import ready_call
from tests.e2e.browser import (
    Browsers,
    kiosk_page,
    kiosk_sign_in_and_call,
    last_code,
    relative_joins,
    wait_call_state,
    wait_remote_playing,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

NUMBER = "+33612345678"


def test_a_whole_call_leaves_no_code_number_or_link_in_any_log(stack, e2e_runner):
    stack.extra_env["PARLOIR_LOG_LEVEL"] = "DEBUG"
    stack.restart_web()
    ready = ready_call()
    contact = ready.booking.contact
    contact.phone_number = NUMBER
    contact.save()

    async def scenario():
        async with Browsers() as browsers:
            kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
            await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
            link, code = last_code(stack.outbox)
            relative = await (await browsers.context(stack.base_url)).new_page()
            await relative_joins(relative, link, code)
            await wait_remote_playing(kiosk)
            await wait_remote_playing(relative)
            await relative.get_by_role("button", name="Raccrocher").click()
            await relative.wait_for_url("**/fin")
            await wait_call_state(kiosk, ["ended"])
            return link, code

    link, code = stack.run(e2e_runner, scenario())
    call = Call.objects.get(booking=ready.booking)
    assert call.state == Call.State.ENDED

    logs = {name: path.read_text(errors="replace") for name, path in stack.logs.items()}
    logs["janus"] = stack.janus.log_path.read_text(errors="replace")
    assert "DEBUG" in logs["web"]  # the web server did log, at its most talkative
    assert '"GET /j/••••••" 200' in logs["web"]  # daphne's access log, its link masked
    secrets = (code, NUMBER, NUMBER[1:], call.link_token, link)
    leaks = {
        f"{name}: …{text[max(0, at - 150) : at + 60]}…"
        for name, text in logs.items()
        for secret in secrets
        if (at := text.find(secret)) >= 0
    }
    assert leaks == set()
