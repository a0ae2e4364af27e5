"""Audit events about recordings: every one names its recording, its call and its
establishment, and who acted (a staff member, or the part of the system that did)."""

from __future__ import annotations

from typing import Any

from audit.log import record
from recordings.models import Recording


def audit(
    action: str,
    recording: Recording,
    *,
    actor=None,
    label: str = "recordings-worker",
    data: dict[str, Any] | None = None,
):
    return record(
        action,
        actor=actor,
        actor_label=None if actor else label,
        establishment=recording.call.booking.room.quarter.establishment_id,
        target=recording,
        data={"call": recording.call_id, **(data or {})},
    )
