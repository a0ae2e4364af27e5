"""Issue #17, finding 1: a relative's code cannot be guessed, whatever the number of
addresses. The computation these limits keep true is in docs/calls.md."""

import ipaddress
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from calls import actions, codes
from calls.models import CodeAttempt
from calls.tests.helpers import ready_call, sent_code, start

pytestmark = pytest.mark.django_db(transaction=True)


def _wrong(code: str, n: int = 1) -> str:
    return f"{(int(code) + n) % 10**codes.CODE_DIGITS:0{codes.CODE_DIGITS}d}"


def test_the_limits_keep_a_days_guessing_below_one_in_ten_thousand(settings):
    """docs/calls.md: with 100 codes live at once, all the wrong codes typed in 24 hours,
    from every address together, have less than 1 chance in 10,000 to hit one."""
    live_codes = 100
    guesses_a_day = 24 * settings.CODE_TYPED_FAILURES_PER_HOUR
    chance = 1 - (1 - live_codes / 10**codes.CODE_DIGITS) ** guesses_a_day
    assert chance < 1e-4
    # The link's token is what stops guesses on the link: far beyond any search.
    assert len(codes.new_token()[:16]) * 6 >= 96


def test_guesses_spread_over_many_addresses_close_typed_entry_and_alert_staff(settings):
    """The issue's attack: wrong codes from many addresses, then the right one from a new
    address. Past the global limit, even the right code typed without the link waits."""
    settings.CODE_TYPED_FAILURES_PER_HOUR = 30
    call = start(ready_call())
    code = sent_code(settings)
    addresses = ipaddress.ip_network("198.51.100.0/24").hosts()
    for n in range(30):
        with pytest.raises(actions.CodeRejected):
            actions.do_redeem_code(_wrong(code, n + 1), client=str(next(addresses)))
    with pytest.raises(actions.CodeRejected):
        actions.do_redeem_code(code, client=str(next(addresses)))
    alerts = AuditEvent.objects.filter(action="code.typed_entry_closed")
    assert alerts.count() == 1
    assert actions.typed_entry_closed_since() is not None
    # More guesses do not alert again: one alert per episode.
    with pytest.raises(actions.CodeRejected):
        actions.do_redeem_code(_wrong(code, 99), client=str(next(addresses)))
    assert alerts.count() == 1
    # The relative who follows the SMS link is not held up by strangers' guesses.
    assert actions.do_redeem_code(code, client="192.0.2.7", link_token=call.link_token) == call


def test_typed_entry_opens_again_once_an_hour_has_calmed_down(settings):
    settings.CODE_TYPED_FAILURES_PER_HOUR = 5
    call = start(ready_call(slot_minutes=120))
    code = sent_code(settings)
    for n in range(5):
        with pytest.raises(actions.CodeRejected):
            actions.do_redeem_code(_wrong(code, n + 1), client=f"203.0.113.{n + 1}")
    with pytest.raises(actions.CodeRejected):
        actions.do_redeem_code(code, client="203.0.113.50")
    # The code is valid 5 minutes: a new one is sent an hour later, and typed entry works.
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        call.booking.refresh_from_db()
        actions.do_send_new_code(call, device_label="Borne 1")
        assert actions.do_redeem_code(sent_code(settings), client="203.0.113.51") == call


def test_an_ipv6_client_counts_as_its_whole_slash_64(settings):
    call = start(ready_call())
    code = sent_code(settings)
    network = ipaddress.ip_network("2001:db8:1:2::/64")
    for n in range(codes.MAX_FAILED_ATTEMPTS_PER_CLIENT):
        with pytest.raises(actions.CodeRejected):
            actions.do_redeem_code(_wrong(code, n + 1), client=str(network[n + 1]))
    with pytest.raises(actions.CodeRejected):
        actions.do_redeem_code(code, client=str(network[4242]))
    assert set(CodeAttempt.objects.values_list("client", flat=True)) == {"2001:db8:1:2::/64"}
    # Another subscriber's network is not held up.
    assert actions.do_redeem_code(code, client="2001:db8:9::1") == call


def test_a_short_code_is_never_accepted(settings):
    """Six digits (today's codes) are refused outright: only the long code opens a call."""
    call = start(ready_call())
    code = sent_code(settings)
    assert len(code) == codes.CODE_DIGITS == 10
    with pytest.raises(actions.CodeRejected):
        actions.do_redeem_code(code[-6:], client="192.0.2.9", link_token=call.link_token)


def test_the_code_page_reports_the_closed_gate_to_staff_on_the_console(client, settings):
    from tests.factories import sign_in, staff_with_role

    settings.CODE_TYPED_FAILURES_PER_HOUR = 3
    ready = ready_call()
    start(ready)
    code = sent_code(settings)
    for n in range(4):
        client.post("/", {"code": _wrong(code, n + 1)}, REMOTE_ADDR=f"192.0.2.{n + 10}")
    staff = client.__class__()
    sign_in(staff, staff_with_role("guard", ready.site.establishment))
    page = staff.get("/console/").content.decode()
    assert 'id="code-guessing-alert"' in page
