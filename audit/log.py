"""The only way to write to the audit log.

Each row is sealed with an HMAC under PARLOIR_AUDIT_KEY over its content, its sequence
number and the previous row's seal. The key lives in the environment, never in the
database: someone who can write to the database can delete or edit rows but cannot seal
a forged, renumbered or reordered one, and a cut tail is caught by the anchors written
outside it (audit/anchor.py). What remains trusted: docs/security.md.
"""

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import anchor
from audit.models import AuditBase, AuditEvent, AuditHead

GENESIS = "0" * 64


def _key_bytes(secret: str) -> bytes:
    return hashlib.sha256(b"parloir.audit.v2|" + secret.encode()).digest()


def key_id(key: bytes) -> str:
    """Names a key in each row without revealing it, so that old keys still verify."""
    return hmac.new(key, b"parloir.audit.key-id", hashlib.sha256).hexdigest()[:16]


def current_key() -> tuple[str, bytes]:
    if not settings.AUDIT_KEY:
        raise RuntimeError("PARLOIR_AUDIT_KEY is not set: the audit log cannot be written")
    key = _key_bytes(settings.AUDIT_KEY)
    return key_id(key), key


def known_keys() -> dict[str, bytes]:
    """The current key and the former ones (PARLOIR_AUDIT_OLD_KEYS), by key id."""
    secrets = [settings.AUDIT_KEY] if settings.AUDIT_KEY else []
    secrets += [part for part in re.split(r"[\s,]+", settings.AUDIT_OLD_KEYS or "") if part]
    keys = [_key_bytes(secret) for secret in secrets]
    return {key_id(key): key for key in keys}


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


def compute_hash(event: AuditEvent, key: bytes) -> str:
    return hmac.new(key, _canonical(event), hashlib.sha256).hexdigest()


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
    ``actor_label`` then says who it was. The new head is anchored outside the
    database once the caller's transaction commits.
    """
    kid, key = current_key()
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
            key_id=kid,
        )
        event.hash = compute_hash(event, key)
        event.save(_from_record=True)
        head.seq, head.hash = event.seq, event.hash
        head.save(update_fields=["seq", "hash"])
        seq, seal = event.seq, event.hash
        transaction.on_commit(lambda: anchor.append(key, seq, seal))
    return event


def anchor_head() -> int | None:
    """Anchor the current head now (`manage.py audit_anchor`, for a timer); its seq."""
    head = AuditHead.objects.filter(id=1).first()
    if head is None or head.seq == 0:
        return None
    _kid, key = current_key()
    anchor.append(key, head.seq, head.hash)
    return head.seq


@dataclass
class Breach:
    seq: int | None
    problem: str


def verify(batch_size: int = 2000) -> Breach | None:
    """Walk the chain and compare it with its anchors; the first breach, or None."""
    keys = known_keys()
    expected_prev = GENESIS
    expected_seq = 1
    base = AuditBase.objects.filter(id=1).first()
    if base is not None:
        key = keys.get(base.key_id)
        if key is None or not hmac.compare_digest(
            _base_seal(key, base.seq, base.prev_hash), base.seal
        ):
            return Breach(
                base.seq, "the chain's start (pruned rows) is not sealed with the audit key"
            )
        expected_prev, expected_seq = base.prev_hash, base.seq
    last_seq = expected_seq - 1
    hashes: dict[int, str] = {}
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            return Breach(expected_seq, f"row #{expected_seq} is missing (next is #{event.seq})")
        if event.prev_hash != expected_prev:
            return Breach(event.seq, f"row #{event.seq} does not follow the previous row")
        key = keys.get(event.key_id)
        if key is None:
            return Breach(event.seq, f"row #{event.seq} is sealed with an unknown key")
        if not hmac.compare_digest(compute_hash(event, key), event.hash):
            return Breach(event.seq, f"row #{event.seq} was altered after it was written")
        expected_prev = event.hash
        expected_seq += 1
        last_seq = event.seq
        hashes[event.seq] = event.hash
    head = AuditHead.objects.filter(id=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != last_seq or head_hash != expected_prev:
        return Breach(
            last_seq + 1, f"the chain ends at #{last_seq} but #{head_seq} was written: rows deleted"
        )
    return _check_anchors(keys, hashes, last_seq, first_seq=base.seq if base else 1)


def _check_anchors(
    keys, hashes: dict[int, str], last_seq: int, first_seq: int = 1
) -> Breach | None:
    for mark in sorted(anchor.read(keys), key=lambda a: a.seq):
        if not mark.genuine:
            return Breach(mark.seq or None, "an anchor line is not sealed with the audit key")
        if mark.seq < first_seq:
            # A pruned row's anchor: the sealed base vouches for where the chain starts.
            continue
        if mark.seq > last_seq:
            return Breach(
                last_seq + 1,
                f"row #{mark.seq} was anchored but the chain ends at #{last_seq}: the tail was cut",
            )
        if not hmac.compare_digest(hashes[mark.seq], mark.hash):
            return Breach(mark.seq, f"row #{mark.seq} differs from its anchor: rewritten")
    return None


def _base_seal(key: bytes, seq: int, prev_hash: str) -> str:
    return hmac.new(key, f"base|{seq}|{prev_hash}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Pruned:
    first_kept: int
    deleted: int


def prune_before(seq: int, *, actor_label: str, data: dict | None = None) -> Pruned | None:
    """Delete the rows before ``seq`` (a whole prefix, never a row in the middle) and move
    the chain's sealed start to ``seq``; the pruning is itself recorded in the chain.

    Called in the purge's transaction (privacy.purge). Rows are cut only whole: a row's
    seal covers its data, so editing personal data out of a kept row would break the
    chain; a prefix goes with its seals, and the base says where the kept part starts.
    """
    kid, key = current_key()
    with transaction.atomic():
        AuditHead.objects.select_for_update().get_or_create(id=1)
        base = AuditBase.objects.select_for_update().filter(id=1).first()
        start = base.seq if base else 1
        first = AuditEvent.objects.filter(seq__gte=seq).order_by("seq").first()
        if first is None or seq <= start:
            return None
        deleted, _ = AuditEvent.objects.filter(seq__lt=first.seq).delete()
        seal = _base_seal(key, first.seq, first.prev_hash)
        AuditBase.objects.update_or_create(
            id=1,
            defaults={
                "seq": first.seq,
                "prev_hash": first.prev_hash,
                "at": timezone.now(),
                "key_id": kid,
                "seal": seal,
            },
        )
        record(
            "audit.pruned",
            actor_label=actor_label,
            data={"first_kept": first.seq, "deleted": deleted, **(data or {})},
        )
    return Pruned(first.seq, deleted)


def last_anchored_seq() -> int:
    marks = [mark.seq for mark in anchor.read(known_keys()) if mark.genuine]
    return max(marks, default=0)
