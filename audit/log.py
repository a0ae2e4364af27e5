"""The only way to write to the audit log."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def _canonical(event: AuditEvent) -> bytes:
    payload = {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "establishment": event.establishment_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "data": event.data,
        "prev": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def record(
    action: str,
    *,
    actor=None,
    establishment=None,
    target=None,
    data: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction.

    ``actor`` is a staff user or None for the system (a worker, the kiosk);
    ``actor_label`` then says who it was.
    """
    with transaction.atomic():
        head, _created = AuditHead.objects.select_for_update().get_or_create(id=1)
        event = AuditEvent(
            seq=head.seq + 1,
            at=timezone.now(),
            actor=actor,
            actor_label=actor_label or (actor.get_username() if actor else "system"),
            establishment_id=getattr(establishment, "pk", establishment),
            action=action,
            target_type=type(target).__name__ if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            data=json.loads(json.dumps(data or {}, default=str)),
            prev_hash=head.hash,
        )
        event.hash = compute_hash(event)
        event.save(_from_record=True)
        head.seq, head.hash = event.seq, event.hash
        head.save(update_fields=["seq", "hash"])
    return event


@dataclass
class Breach:
    seq: int | None
    problem: str


def verify(batch_size: int = 2000) -> Breach | None:
    """Walk the chain; return the first breach, or None if it is intact."""
    expected_prev = GENESIS
    expected_seq = 1
    last_seq = 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            return Breach(expected_seq, f"row #{expected_seq} is missing (next is #{event.seq})")
        if event.prev_hash != expected_prev:
            return Breach(event.seq, f"row #{event.seq} does not follow the previous row")
        if compute_hash(event) != event.hash:
            return Breach(event.seq, f"row #{event.seq} was altered after it was written")
        expected_prev = event.hash
        expected_seq += 1
        last_seq = event.seq
    head = AuditHead.objects.filter(id=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != last_seq or head_hash != expected_prev:
        return Breach(
            last_seq + 1, f"the chain ends at #{last_seq} but #{head_seq} was written: rows deleted"
        )
    return None
