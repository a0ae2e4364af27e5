from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from calls import actions, codes
from calls.models import CallCode, CodeAttempt
from calls.tests.helpers import ready_call, sent_code, start

pytestmark = pytest.mark.django_db(transaction=True)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**codes.CODE_DIGITS:0{codes.CODE_DIGITS}d}"


def test_it_lets_the_right_code_in_once_with_spaces_typed(settings):
    call = start(ready_call())
    code = sent_code(settings)
    assert actions.do_redeem_code(f"{code[:5]} {code[5:]}", client="a").pk == call.pk
    assert CallCode.objects.get(call=call).used_at is not None


def test_it_gives_the_same_error_for_every_wrong_input(settings):
    call = start(ready_call())
    code = sent_code(settings)
    for bad in ["", "abc", "12345", "123456", "12345678901", _wrong(code)]:
        with pytest.raises(actions.CodeRejected) as excinfo:
            actions.do_redeem_code(bad, client="b", link_token=call.link_token)
        assert str(excinfo.value) == ""


def test_it_voids_the_code_after_five_wrong_attempts_on_the_call(settings):
    call = start(ready_call())
    code = sent_code(settings)
    for _ in range(codes.MAX_FAILED_ATTEMPTS_PER_CALL):
        with pytest.raises(actions.CodeRejected):
            actions.do_redeem_code(_wrong(code), client="c", link_token=call.link_token)
    assert CallCode.objects.get(call=call).voided_at is not None
    with pytest.raises(actions.CodeRejected):
        actions.do_redeem_code(code, client="other-client", link_token=call.link_token)


def test_it_refuses_an_expired_code(settings):
    call = start(ready_call())
    code = sent_code(settings)
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        with pytest.raises(actions.CodeRejected):
            actions.do_redeem_code(code, client="d")
    assert call.codes.get().used_at is None


def test_it_limits_failed_attempts_per_client_address(settings):
    call = start(ready_call())
    code = sent_code(settings)
    for n in range(codes.MAX_FAILED_ATTEMPTS_PER_CLIENT):
        with pytest.raises(actions.CodeRejected):
            guess = f"{n:010d}" if f"{n:010d}" != code else "9999999999"
            actions.do_redeem_code(guess, client="e")
    # Even the right code is refused to that address now; another address gets in.
    with pytest.raises(actions.CodeRejected):
        actions.do_redeem_code(code, client="e")
    assert actions.do_redeem_code(code, client="f").pk == call.pk
    assert CodeAttempt.objects.filter(client="e", succeeded=False).count() == 11


def test_it_lets_the_same_browser_back_in_with_the_same_code_while_the_call_is_open(settings):
    call = start(ready_call())
    code = sent_code(settings)
    seat = codes.seat_hash("the relative's browser seat")
    actions.do_redeem_code(code, client="g", seat=seat)
    # The 5 minutes are over, but the code was used: re-entry after a drop still works.
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert actions.do_redeem_code(code, client="g", seat=seat).pk == call.pk
    actions.do_end_call(call, "hung_up_relative", by="relative")
    with pytest.raises(actions.CodeRejected):
        actions.do_redeem_code(code, client="g", seat=seat)


def test_it_never_stores_the_code():
    code = codes.new_code()
    assert codes.hash_code(code) != code
    assert len(codes.hash_code(code)) == 64
    assert codes.matches(code, codes.hash_code(code))


def test_a_new_code_never_repeats_one_that_still_names_an_open_call(settings, monkeypatch):
    first = start(ready_call())
    code = sent_code(settings)
    seat = codes.seat_hash("first relative's browser")
    actions.do_redeem_code(code, client="h", seat=seat)  # used: it names the call after a drop
    # The random source draws the same digits first, then others.
    draws = iter([int(code), int(code), (int(code) + 1) % 10**codes.CODE_DIGITS])
    monkeypatch.setattr(codes.secrets, "randbelow", lambda _: next(draws))

    second = start(ready_call())

    assert sent_code(settings) == _wrong(code)
    assert actions.do_redeem_code(code, client="h", seat=seat).pk == first.pk
    assert actions.do_redeem_code(_wrong(code), client="i").pk == second.pk
