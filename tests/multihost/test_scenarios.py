"""parloir on several hosts, with real Chromium on both sides of each call."""

from __future__ import annotations

import re

import pytest

from tests.e2e.browser import (
    kiosk_page,
    kiosk_sign_in_and_call,
    last_code,
    relative_joins,
    wait_call_state,
    wait_remote_playing,
)
from tests.multihost.conftest import site_browser

pytestmark = [pytest.mark.multihost, pytest.mark.media, pytest.mark.browser]


class Call:
    """One call of the deployment: its pages on the prison's and the family's browsers."""

    def __init__(self, deployment, booking: dict) -> None:
        self.deployment = deployment
        self.booking = booking
        self.kiosk = None
        self.relative = None

    def state(self) -> dict:
        return self.deployment.control("web1", "call", booking=self.booking["booking"])


async def _kiosk_calls(browsers, deployment, booking):
    page = await kiosk_page(browsers, deployment.site_url, booking["credential"])
    await kiosk_sign_in_and_call(page, booking["prison_number"])
    return page


async def _relative_answers(browsers, deployment):
    link, code = last_code(deployment.shared / "outbox.jsonl")
    context = await browsers.context(deployment.site_url)
    page = await context.new_page()
    await relative_joins(page, link, code)
    return page


def _web_sockets(deployment) -> dict[str, int]:
    return {
        web: len(re.findall(r"WSCONNECT /ws/call/", deployment.net.tail(web, "web", 100000)))
        for web in ("web1", "web2")
    }


def test_a_call_whose_two_sides_are_on_different_web_hosts(deployment, prison, family):
    booking = deployment.control("web1", "ready_calls", count=1)["calls"][0]
    with (
        site_browser(deployment, prison, "prison") as kiosk_browser,
        site_browser(deployment, family, "family") as relative_browser,
    ):
        before = _web_sockets(deployment)
        # The kiosk on web1 (web2 drained for new connections), the relative on web2.
        deployment.lb("set server web/web2 state drain")
        kiosk = prison.run(_kiosk_calls(kiosk_browser, deployment, booking), timeout=60)
        prison.run(kiosk.wait_for_function("() => document.getElementById('call').dataset.state"))
        deployment.lb("set server web/web2 state ready")
        deployment.lb("set server web/web1 state drain")
        relative = family.run(_relative_answers(relative_browser, deployment), timeout=60)
        deployment.lb("set server web/web1 state ready")
        family.run(wait_remote_playing(relative), timeout=40)
        prison.run(wait_remote_playing(kiosk), timeout=40)
        after = _web_sockets(deployment)
        state = prison.run(wait_call_state(kiosk, ["live"]))
    assert state == "live"
    assert after["web1"] > before["web1"] and after["web2"] > before["web2"]
    assert Call(deployment, booking).state()["node"] in ("media1", "media2")
