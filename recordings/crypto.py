"""Keys of recordings: master keys from the environment, per-file keys, signing keys.

The file format itself (chunked AES-256-GCM) is in recordings.fileformat, which is also
shipped as the decryption tool of judicial export packages; it is re-exported here.

Each recording has its own random 256-bit key, stored in the database wrapped (AES-GCM,
the recording's id as AAD, so a wrapped key copied to another row does not open) by a
master key. Master keys come from the environment as secret strings of any form and are
stretched with HKDF; a key id derived the same way names the key that wrapped each file
key. Rotating the master key re-wraps 61-byte file keys and never touches the media.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recordings.fileformat import (  # noqa: F401 (re-exported)
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    CryptoError,
    EncryptedFile,
    PlaintextReader,
    Sealed,
    TamperedError,
    canonical_json,
    encrypt_file,
    encrypt_stream,
    passphrase_key,
    sha256_file,
    verify_signature,
)

WRAP_VERSION = b"\x01"
FILE_KEY_SIZE = 32


class MissingMasterKey(CryptoError):
    """No configured master key has the id a file key was wrapped with."""


class NoMasterKey(CryptoError):
    """PARLOIR_RECORDING_MASTER_KEY is not configured."""


# --- Master keys --------------------------------------------------------------------------


def _hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"parloir", info=info).derive(secret)


@dataclass(frozen=True)
class MasterKey:
    id: str
    kek: bytes

    @classmethod
    def from_secret(cls, secret: str) -> MasterKey:
        raw = secret.strip().encode()
        if len(raw) < 32:
            raise CryptoError("A recording master key must be at least 32 characters long")
        key_id = _hkdf(raw, b"parloir/recordings/master-key-id/v1", 8).hex()
        return cls(key_id, _hkdf(raw, b"parloir/recordings/master-key/v1"))

    def wrap(self, file_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return WRAP_VERSION + nonce + AESGCM(self.kek).encrypt(nonce, file_key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        if len(wrapped) != 1 + 12 + FILE_KEY_SIZE + TAG_SIZE or wrapped[:1] != WRAP_VERSION:
            raise TamperedError("Wrapped key has an unknown format")
        try:
            return AESGCM(self.kek).decrypt(wrapped[1:13], wrapped[13:], context)
        except InvalidTag:
            raise TamperedError("Wrapped key does not match its recording or master key") from None


@dataclass(frozen=True)
class Keyring:
    """The current master key (wraps new keys) and older ones (only unwrap, until rotated)."""

    current: MasterKey
    older: tuple[MasterKey, ...] = ()

    def get(self, key_id: str) -> MasterKey:
        for key in (self.current, *self.older):
            if key.id == key_id:
                return key
        raise MissingMasterKey(
            f"Master key {key_id} is not configured "
            "(PARLOIR_RECORDING_MASTER_KEY / PARLOIR_RECORDING_OLD_MASTER_KEYS)"
        )


@lru_cache(maxsize=8)
def _keyring(current: str, older: str) -> Keyring:
    old_keys = tuple(
        MasterKey.from_secret(s) for s in re.split(r"[\s,]+", older or "") if s.strip()
    )
    current_key = MasterKey.from_secret(current)
    return Keyring(current_key, tuple(k for k in old_keys if k.id != current_key.id))


def keyring() -> Keyring:
    from django.conf import settings

    if not settings.RECORDING_MASTER_KEY:
        raise NoMasterKey("PARLOIR_RECORDING_MASTER_KEY (or _FILE) is not set")
    return _keyring(settings.RECORDING_MASTER_KEY, settings.RECORDING_OLD_MASTER_KEYS or "")


def key_context(file_id: bytes) -> bytes:
    """What a wrapped key is bound to: copying it to another recording's row fails."""
    return b"parloir/recording-file-key/" + file_id


def new_file_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


# --- Sources sealed on media hosts (recordings.sealing) ------------------------------------


def _source_private_key(key: MasterKey) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(
        _hkdf(key.kek, b"parloir/recordings/source-private-key/v1")
    )


def source_private_keys() -> list[X25519PrivateKey]:
    """The keys that open sources sealed on media hosts: the current master key's first,
    then those of older master keys (sources sealed before a rotation)."""
    ring = keyring()
    return [_source_private_key(key) for key in (ring.current, *ring.older)]


def source_public_key_b64() -> str:
    """What media hosts seal for (PARLOIR_RECORDING_PUBLIC_KEY there)."""
    from recordings.sealing import public_key_b64 as encode

    return encode(source_private_keys()[0].public_key())


# --- Signatures (destruction reports, export manifests) -----------------------------------


@lru_cache(maxsize=4)
def _signing_key(secret: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        _hkdf(secret.encode(), b"parloir/recordings/report-signing/v1")
    )


def signing_key() -> Ed25519PrivateKey:
    """From PARLOIR_RECORDING_SIGNING_KEY, else derived from the current master key."""
    from django.conf import settings

    secret = settings.RECORDING_SIGNING_KEY or settings.RECORDING_MASTER_KEY
    if not secret:
        raise NoMasterKey("Neither PARLOIR_RECORDING_SIGNING_KEY nor a master key is set")
    return _signing_key(secret)


def public_key_b64(key: Ed25519PrivateKey | None = None) -> str:
    public = (key or signing_key()).public_key().public_bytes_raw()
    return base64.b64encode(public).decode()


def sign(payload: bytes, key: Ed25519PrivateKey | None = None) -> str:
    return base64.b64encode((key or signing_key()).sign(payload)).decode()
