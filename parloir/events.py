"""Server events: every type has a schema, and nothing is sent before the transaction commits.

Consumers subscribe to groups (``call.<id>``, ``establishment.<id>``...). Actions call
``send_event`` inside their transaction; delivery happens after commit, so nobody
ever hears of a change that was rolled back.
"""

import logging
from typing import Any

import jsonschema
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

EVENT_SCHEMAS: dict[str, dict[str, Any]] = {}


def register(event_type: str, properties: dict[str, Any], required: list[str]) -> None:
    EVENT_SCHEMAS[event_type] = {
        "type": "object",
        "properties": {"type": {"const": event_type}, **properties},
        "required": ["type", *required],
        "additionalProperties": False,
    }


_VALIDATORS: dict[str, Any] = {}


def validator_for(schema: dict[str, Any]):
    """A schema's validator, made (and the schema checked) once: ``jsonschema.validate``
    checks the schema against its meta-schema at every call, which cost the web process
    more than the rest of sending an event."""
    key = id(schema)
    validator = _VALIDATORS.get(key)
    if validator is None:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validator = _VALIDATORS[key] = cls(schema)
    return validator


def check(instance: Any, schema: dict[str, Any]) -> None:
    """``jsonschema.validate`` with a validator made once per schema."""
    error = jsonschema.exceptions.best_match(validator_for(schema).iter_errors(instance))
    if error is not None:
        raise error


def validate(event: dict[str, Any]) -> None:
    schema = EVENT_SCHEMAS.get(event.get("type", ""))
    if schema is None:
        raise ValueError(f"Unknown event type {event.get('type')!r}")
    check(event, schema)


def send_event(groups: list[str], event: dict[str, Any]) -> None:
    """Queue ``event`` for ``groups``; it is sent after commit. Where the schemas are
    checked (the tests, a development server), it is validated now: our own events, so
    a mismatch is a bug of ours to find there. In production checking each event cost
    the web process a twentieth of a call's set-up, and refusing one would roll back
    the change it reports."""
    if settings.CHECK_EVENT_SCHEMAS:
        validate(event)

    def deliver() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        for group in groups:
            async_to_sync(layer.group_send)(group, {"type": "server.event", "event": event})

    transaction.on_commit(deliver, robust=True)
