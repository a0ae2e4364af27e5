"""Recording sources sealed on the media host for the web hosts only.

A media host on a machine of its own never keeps a call's Janus files: its agent
(``python -m media.node agent``) encrypts each one as soon as its room is gone, puts it
in the storage that the web hosts share, and deletes the plaintext. It holds only a
public key: a media host that is stolen or broken into reveals no recording, not even
those it made.

Each file gets a random key and the chunked AES-256-GCM format of recordings.fileformat;
the file key is sealed for the recipient with X25519 (an ephemeral key per file), HKDF
and AES-GCM. The recipient's private key is derived from the recording master key
(recordings.crypto.source_private_key): rotating the master key rotates it too.

No Django here: the media host runs this without parloir's settings or database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recordings.fileformat import EncryptedFile, TamperedError, encrypt_file

VERSION = 1
SEALED_SUFFIX = ".sealed"
# Written last, once every file of the room is sealed: the room's sources are complete.
MANIFEST = "room-{room}.json"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def public_key_b64(key: X25519PublicKey) -> str:
    return _b64(key.public_bytes_raw())


def load_public_key(text: str) -> X25519PublicKey:
    try:
        raw = _unb64(text.strip())
    except ValueError:
        raise ValueError("The recordings' public key is not base64") from None
    if len(raw) != 32:
        raise ValueError("The recordings' public key must be 32 bytes (base64)")
    return X25519PublicKey.from_public_bytes(raw)


def _kek(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"parloir",
        info=b"parloir/recordings/source-key/v1" + ephemeral + recipient,
    ).derive(shared)


@dataclass(frozen=True)
class SealedFile:
    name: str  # the Janus file's own name
    size: int
    sha256: str  # of the plaintext
    file_id: str
    ephemeral: str
    nonce: str
    wrapped_key: str

    @property
    def sealed_name(self) -> str:
        return self.name + SEALED_SUFFIX


def seal_file(source: Path, target_dir: Path, recipient: X25519PublicKey) -> SealedFile:
    """Encrypt ``source`` into ``target_dir`` (atomically) and return how to open it."""
    file_key = AESGCM.generate_key(bit_length=256)
    file_id = os.urandom(16)
    target = target_dir / (source.name + SEALED_SUFFIX)
    partial = target.with_name(target.name + ".partial")
    sealed = encrypt_file(source, partial, file_key, file_id)
    partial.rename(target)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes_raw()
    recipient_raw = recipient.public_bytes_raw()
    nonce = os.urandom(12)
    wrapped = AESGCM(_kek(ephemeral.exchange(recipient), ephemeral_raw, recipient_raw)).encrypt(
        nonce, file_key, file_id
    )
    return SealedFile(
        name=source.name,
        size=sealed.plaintext_size,
        sha256=sealed.plaintext_sha256,
        file_id=_b64(file_id),
        ephemeral=_b64(ephemeral_raw),
        nonce=_b64(nonce),
        wrapped_key=_b64(wrapped),
    )


def write_manifest(folder: Path, *, node: str, room: int, files: list[SealedFile]) -> Path:
    path = folder / MANIFEST.format(room=room)
    partial = path.with_name(path.name + ".partial")
    body = {
        "version": VERSION,
        "node": node,
        "room": room,
        "files": [file.__dict__ for file in files],
    }
    partial.write_text(json.dumps(body, indent=1, sort_keys=True))
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    partial.rename(path)
    return path


def read_manifest(path: Path) -> list[SealedFile]:
    body = json.loads(path.read_text())
    if body.get("version") != VERSION:
        raise TamperedError(f"{path.name}: unknown manifest version {body.get('version')!r}")
    return [SealedFile(**entry) for entry in body["files"]]


def open_file(
    folder: Path, entry: SealedFile, private_keys: list[X25519PrivateKey], target: Path
) -> Path:
    """Decrypt one sealed source into ``target``; checks its size and SHA-256."""
    file_id = _unb64(entry.file_id)
    ephemeral_raw = _unb64(entry.ephemeral)
    ephemeral = X25519PublicKey.from_public_bytes(ephemeral_raw)
    file_key = None
    for private in private_keys:
        recipient_raw = private.public_key().public_bytes_raw()
        kek = _kek(private.exchange(ephemeral), ephemeral_raw, recipient_raw)
        try:
            file_key = AESGCM(kek).decrypt(_unb64(entry.nonce), _unb64(entry.wrapped_key), file_id)
            break
        except InvalidTag:
            continue
    if file_key is None:
        raise TamperedError(f"{entry.name}: sealed for a key this host does not have")
    digest = hashlib.sha256()
    partial = target.with_name(target.name + ".partial")
    with EncryptedFile(folder / entry.sealed_name, file_key, file_id) as media:
        with partial.open("wb") as out:
            for chunk in media:
                digest.update(chunk)
                out.write(chunk)
    if digest.hexdigest() != entry.sha256 or partial.stat().st_size != entry.size:
        partial.unlink(missing_ok=True)
        raise TamperedError(f"{entry.name}: not the file that was sealed")
    partial.rename(target)
    return target
