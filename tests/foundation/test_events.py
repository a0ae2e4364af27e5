import jsonschema
import pytest
from django.db import transaction

import calls.events  # noqa: F401 - registers the call events
from parloir.events import EVENT_SCHEMAS, send_event, validate

EXAMPLES = {
    "call.state": {
        "type": "call.state",
        "call": 1,
        "state": "live",
        "end_reason": "",
        "end_reason_label": "",
        "deadline": "2026-11-27T10:00:00+00:00",
        "seconds_left": 60,
    },
    "call.notice": {"type": "call.notice", "call": 1, "text": "Veuillez rester face à la caméra"},
    "call.code": {
        "type": "call.code",
        "call": 1,
        "expires_at": "2026-11-27T10:00:00+00:00",
        "message_status": "sent",
        "channel": "sms",
    },
    "call.peer": {
        "type": "call.peer",
        "call": 1,
        "role": "kiosk",
        "status": "left",
        "reason": "closed",
        "feed": None,
    },
    "call.media": {
        "type": "call.media",
        "call": 1,
        "status": "restart",
        "reason": "node_down",
        "epoch": 2,
    },
    "call.relative_out": {
        "type": "call.relative_out",
        "call": 1,
        "relative": 2,
        "why": "removed",
        "feed": 1234,
        "janus_session": None,
    },
    "call.attached": {
        "type": "call.attached",
        "call": 1,
        "role": "relative",
        "channel": "specific.abc!def",
        "participant": 7,
        "attachment": 2,
    },
}


def test_every_registered_event_type_has_a_valid_example_here():
    assert set(EVENT_SCHEMAS) <= set(EXAMPLES), "add an example for each new event type"
    for example in EXAMPLES.values():
        validate(example)


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_it_refuses_an_event_with_an_extra_or_missing_field(event_type):
    event = dict(EXAMPLES[event_type])
    with pytest.raises(jsonschema.ValidationError):
        validate({**event, "unexpected": 1})
    missing = dict(event)
    missing.pop(next(k for k in event if k != "type"))
    with pytest.raises(jsonschema.ValidationError):
        validate(missing)


def test_a_peer_that_left_says_how_and_a_media_event_says_what():
    with pytest.raises(jsonschema.ValidationError):
        validate({**EXAMPLES["call.peer"], "reason": "tired"})
    with pytest.raises(jsonschema.ValidationError):
        validate({**EXAMPLES["call.media"], "status": "reboot"})
    with pytest.raises(jsonschema.ValidationError):
        validate({**EXAMPLES["call.media"], "epoch": -1})


def test_it_refuses_an_unknown_event_type():
    with pytest.raises(ValueError):
        send_event(["g"], {"type": "nope"})


@pytest.mark.django_db(transaction=True)
def test_it_sends_nothing_when_the_transaction_rolls_back():
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("test-group", channel)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        send_event(["test-group"], EXAMPLES["call.notice"])
        raise Abort
    with transaction.atomic():
        send_event(["test-group"], {**EXAMPLES["call.notice"], "text": "committed"})
    message = async_to_sync(layer.receive)(channel)
    assert message["event"]["text"] == "committed"


@pytest.mark.django_db(transaction=True)
def test_it_sends_unchecked_where_schemas_are_not_checked(settings):
    """Production: our own events go out without a schema check (the tests check them)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    settings.CHECK_EVENT_SCHEMAS = False
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("test-unchecked", channel)
    with transaction.atomic():
        send_event(["test-unchecked"], {**EXAMPLES["call.notice"], "extra": "kept"})
    assert async_to_sync(layer.receive)(channel)["event"]["extra"] == "kept"
    settings.CHECK_EVENT_SCHEMAS = True
    with pytest.raises(jsonschema.ValidationError):
        send_event(["test-unchecked"], {**EXAMPLES["call.notice"], "extra": "kept"})


def test_it_checks_event_schemas_in_development_only_by_default():
    import os
    import subprocess
    import sys

    def checked(**env) -> str:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
        for name in ("SECRET_KEY", "AUDIT_KEY", "JANUS_ADMIN_SECRET", "JANUS_ROOM_ADMIN_KEY",
                     "RECORDING_MASTER_KEY"):  # fmt: skip
            base[f"PARLOIR_{name}"] = "test-only"
        code = "from parloir import settings; print(settings.CHECK_EVENT_SCHEMAS)"
        return subprocess.run(
            [sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip

    assert checked() == "False"
    assert checked(PARLOIR_DEBUG="1") == "True"
    assert checked(PARLOIR_CHECK_EVENT_SCHEMAS="1") == "True"
    from django.conf import settings

    assert settings.CHECK_EVENT_SCHEMAS is True  # the tests check every event they make
