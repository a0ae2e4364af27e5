"""File keys of recordings: unwrapping one, and re-wrapping them all after a master key change.

Rotation: put the new secret in PARLOIR_RECORDING_MASTER_KEY and the old one in
PARLOIR_RECORDING_OLD_MASTER_KEYS, restart, run ``manage.py recordings_rotate_key``, then
remove the old secret. Only the 61-byte wrapped keys change; no media file is rewritten.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction

from audit.log import record
from recordings import crypto
from recordings.models import Recording


def file_key(recording: Recording) -> bytes:
    if recording.wrapped_key is None:
        raise crypto.CryptoError(f"Recording {recording.pk} has no key (destroyed?)")
    master = crypto.keyring().get(recording.key_id)
    return master.unwrap(bytes(recording.wrapped_key), crypto.key_context(recording.file_id))


def open_plaintext(recording: Recording) -> crypto.EncryptedFile:
    """The recording's media, decrypted on demand; checks the stored size first."""
    from recordings.jobs import stored_path

    return crypto.EncryptedFile(
        stored_path(recording),
        file_key(recording),
        recording.file_id,
        expected_size=recording.stored_size,
    )


@dataclass
class Rotation:
    to_key: str
    rewrapped: Counter = field(default_factory=Counter)
    missing: Counter = field(default_factory=Counter)
    already_current: int = 0


def census() -> Counter:
    """How many live file keys each master key id wraps."""
    return Counter(
        Recording.objects.filter(wrapped_key__isnull=False).values_list("key_id", flat=True)
    )


def rotate(*, dry_run: bool = False) -> Rotation:
    ring = crypto.keyring()
    result = Rotation(ring.current.id)
    result.already_current = Recording.objects.filter(
        wrapped_key__isnull=False, key_id=ring.current.id
    ).count()
    stale = (
        Recording.objects.filter(wrapped_key__isnull=False)
        .exclude(key_id=ring.current.id)
        .only("pk", "uuid", "key_id", "wrapped_key")
    )
    for recording in stale.iterator(chunk_size=500):
        try:
            key = file_key(recording)
        except crypto.MissingMasterKey:
            result.missing[recording.key_id] += 1
            continue
        if dry_run:
            result.rewrapped[recording.key_id] += 1
            continue
        wrapped = ring.current.wrap(key, crypto.key_context(recording.file_id))
        # Conditional: a recording destroyed (key forgotten) meanwhile must stay keyless.
        done = Recording.objects.filter(
            pk=recording.pk, key_id=recording.key_id, wrapped_key__isnull=False
        ).update(wrapped_key=wrapped, key_id=ring.current.id)
        if done:
            result.rewrapped[recording.key_id] += 1
    if result.rewrapped and not dry_run:
        with transaction.atomic():
            record(
                "recording.keys_rotated",
                actor_label="command",
                data={
                    "to": ring.current.id,
                    "from": dict(result.rewrapped),
                    "missing": dict(result.missing),
                },
            )
    return result
