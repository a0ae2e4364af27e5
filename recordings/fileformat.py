#!/usr/bin/env python3
"""parloir's encrypted file format, and the tool that opens judicial export packages.

This module needs only Python 3.9+ and the ``cryptography`` package: parloir stores
recordings with it, and copies it, unchanged, into every export package as
``dechiffrer.py``, so that the recipient decrypts with the very code that encrypted.

Format, all integers big-endian::

    header  = MAGIC (8) | chunk size (4) | nonce prefix (8) | file id (16)     36 bytes
    chunk i = AES-256-GCM(key, nonce = prefix | i (4), aad = header | i (8) | final (1))

Every chunk but the last holds exactly ``chunk size`` bytes of plaintext; the last one
holds the rest (possibly nothing) and is the only one sealed with ``final = 1``. A flipped
byte fails its chunk's tag; chunks cannot be moved (their index is in the nonce and the
AAD); a file cut at a chunk boundary fails because its new last chunk was not sealed as
final; the file id in every AAD ties the file to the recording (or package entry) it was
made for. Chunks stand alone, so a byte range is served by decrypting only its chunks.

Opening a package (French, for the recipient)::

    python3 dechiffrer.py paquet.zip dossier-de-sortie
    (la phrase secrète est demandée ; --passphrase-file FICHIER pour la lire d'un fichier)
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import json
import os
import struct
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"PRLREC\x00\x01"
HEADER = struct.Struct(">8sI8s16s")
HEADER_SIZE = HEADER.size
TAG_SIZE = 16
DEFAULT_CHUNK_SIZE = 64 * 1024
PACKAGE_FORMAT = "parloir-judicial-export/1"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1


class CryptoError(Exception):
    """Base of the errors about encrypted files and keys."""


class TamperedError(CryptoError):
    """The ciphertext, its header or its length is not what was written."""


def _nonce(prefix: bytes, index: int) -> bytes:
    if index >= 2**32:
        raise CryptoError("File too large for this format")
    return prefix + struct.pack(">I", index)


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


class Sealed(NamedTuple):
    """What encrypting measured: sizes and SHA-256 of the ciphertext and the plaintext."""

    stored_size: int
    sha256: str
    plaintext_size: int
    plaintext_sha256: str


def encrypt_stream(
    source: BinaryIO,
    target: BinaryIO,
    key: bytes,
    file_id: bytes,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Sealed:
    if len(file_id) != 16:
        raise CryptoError("file_id must be 16 bytes")
    aes = AESGCM(key)
    header = HEADER.pack(MAGIC, chunk_size, os.urandom(8), file_id)
    prefix = header[12:20]
    cipher_hash, plain_hash = hashlib.sha256(header), hashlib.sha256()
    target.write(header)
    stored, plain_size, index = len(header), 0, 0
    chunk = source.read(chunk_size)
    while True:
        # Read one ahead: a chunk is final only when nothing follows it.
        following = source.read(chunk_size) if len(chunk) == chunk_size else b""
        final = not following
        sealed = aes.encrypt(_nonce(prefix, index), chunk, _aad(header, index, final))
        target.write(sealed)
        cipher_hash.update(sealed)
        plain_hash.update(chunk)
        stored += len(sealed)
        plain_size += len(chunk)
        if final:
            break
        chunk, index = following, index + 1
    return Sealed(stored, cipher_hash.hexdigest(), plain_size, plain_hash.hexdigest())


def encrypt_file(source: Path, target: Path, key: bytes, file_id: bytes, **kwargs) -> Sealed:
    with Path(source).open("rb") as src, Path(target).open("wb") as dst:
        sealed = encrypt_stream(src, dst, key, file_id, **kwargs)
        dst.flush()
        os.fsync(dst.fileno())
    return sealed


def read_file_id(path: Path) -> bytes:
    with Path(path).open("rb") as f:
        header = f.read(HEADER_SIZE)
    if len(header) != HEADER_SIZE or header[:8] != MAGIC:
        raise TamperedError(f"{Path(path).name} is not a parloir encrypted file")
    return header[20:36]


class EncryptedFile:
    """Random access to the plaintext of an encrypted file, authenticated chunk by chunk."""

    def __init__(
        self, path: Path, key: bytes, file_id: bytes, expected_size: int | None = None
    ) -> None:
        self.path = Path(path)
        self._file = self.path.open("rb")
        try:
            self.stored_size = os.fstat(self._file.fileno()).st_size
            if expected_size is not None and self.stored_size != expected_size:
                raise TamperedError(
                    f"{self.path.name} is {self.stored_size} bytes, {expected_size} were written"
                )
            self.header = self._file.read(HEADER_SIZE)
            if len(self.header) != HEADER_SIZE:
                raise TamperedError("Header is truncated")
            magic, self.chunk_size, self._prefix, stored_id = HEADER.unpack(self.header)
            if magic != MAGIC:
                raise TamperedError("Not a parloir encrypted file (bad magic)")
            if stored_id != file_id:
                raise TamperedError("This file was made for another recording")
            if self.chunk_size <= 0:
                raise TamperedError("Bad chunk size")
            body = self.stored_size - HEADER_SIZE
            self._sealed_chunk = self.chunk_size + TAG_SIZE
            self.chunks = max(1, -(-body // self._sealed_chunk))
            if body - (self.chunks - 1) * self._sealed_chunk < TAG_SIZE:
                raise TamperedError("Truncated: the last chunk is shorter than its tag")
            self.size = body - self.chunks * TAG_SIZE
        except BaseException:
            self._file.close()
            raise
        self._aes = AESGCM(key)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EncryptedFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def chunk(self, index: int) -> bytes:
        self._file.seek(HEADER_SIZE + index * self._sealed_chunk)
        sealed = self._file.read(self._sealed_chunk)
        final = index == self.chunks - 1
        try:
            return self._aes.decrypt(
                _nonce(self._prefix, index), sealed, _aad(self.header, index, final)
            )
        except InvalidTag:
            raise TamperedError(f"{self.path.name}: chunk {index} fails authentication") from None

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        """Plaintext bytes ``start`` to ``end`` inclusive, decrypting only the chunks needed."""
        if not 0 <= start <= end < self.size:
            raise ValueError(f"Range {start}-{end} outside 0-{self.size - 1}")
        first, last = start // self.chunk_size, end // self.chunk_size
        for index in range(first, last + 1):
            data = self.chunk(index)
            base = index * self.chunk_size
            yield data[max(0, start - base) : end - base + 1]

    def __iter__(self) -> Iterator[bytes]:
        for index in range(self.chunks):
            yield self.chunk(index)

    def verify(self) -> str:
        """Decrypt everything (raises TamperedError on any fault); return the plaintext sha256."""
        digest = hashlib.sha256()
        for data in self:
            digest.update(data)
        return digest.hexdigest()


class PlaintextReader:
    """A read()-able view of an EncryptedFile's plaintext, for streaming it elsewhere."""

    def __init__(self, media: EncryptedFile) -> None:
        self._chunks = iter(media)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            data = next(self._chunks, None)
            if data is None:
                break
            self._buffer += data
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def passphrase_key(
    passphrase: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify_signature(payload: bytes, signature_b64: str, public_b64: str) -> bool:
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
        public.verify(base64.b64decode(signature_b64), payload)
    except (InvalidSignature, ValueError):
        return False
    return True


def fingerprint(public_b64: str) -> str:
    """A short form of a public key, to compare with the one the administration publishes."""
    digest = hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


# --- Judicial export packages -----------------------------------------------------------


class PackageError(Exception):
    pass


def open_package(package: Path, passphrase: str, out_dir: Path) -> dict:
    """Check the package's signature and checksums, decrypt its files into ``out_dir``;
    return the manifest. Raises PackageError (or TamperedError) on any mismatch."""
    out_dir = Path(out_dir)
    with zipfile.ZipFile(package) as archive:
        manifest_bytes = archive.read("manifest.json")
        signature = archive.read("manifest.sig").decode().strip()
        manifest = json.loads(manifest_bytes)
        if manifest.get("format") != PACKAGE_FORMAT:
            raise PackageError(f"Unknown package format {manifest.get('format')!r}")
        public = manifest["signature"]["public_key"]
        if not verify_signature(manifest_bytes, signature, public):
            raise PackageError("manifest.json does not match its signature")
        kdf = manifest["encryption"]["kdf"]
        key = passphrase_key(
            passphrase, base64.b64decode(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"]
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        for entry in manifest["files"]:
            encrypted = out_dir / (entry["name"] + ".tmp")
            with archive.open(entry["name"]) as src, encrypted.open("wb") as dst:
                while block := src.read(1024 * 1024):
                    dst.write(block)
            try:
                if sha256_file(encrypted) != entry["sha256"]:
                    raise PackageError(f"{entry['name']}: checksum differs from the manifest")
                target = out_dir / entry["plaintext_name"]
                digest = hashlib.sha256()
                # The file matches the signed manifest's checksum, so it is intact: if it
                # does not decrypt, the passphrase is wrong.
                try:
                    with (
                        EncryptedFile(encrypted, key, bytes.fromhex(entry["file_id"])) as media,
                        target.open("wb") as dst,
                    ):
                        for data in media:
                            digest.update(data)
                            dst.write(data)
                except TamperedError:
                    target.unlink(missing_ok=True)
                    raise PackageError("Wrong passphrase") from None
                if digest.hexdigest() != entry["plaintext_sha256"]:
                    raise PackageError(f"{entry['plaintext_name']}: checksum differs")
            finally:
                encrypted.unlink(missing_ok=True)
    return manifest


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Vérifie et déchiffre un paquet d'enregistrement parloir."
    )
    parser.add_argument("package", type=Path, help="le fichier .zip reçu")
    parser.add_argument("out", type=Path, nargs="?", default=Path("."), help="dossier de sortie")
    parser.add_argument("--passphrase-file", type=Path, help="lire la phrase secrète d'un fichier")
    args = parser.parse_args(argv)
    if args.passphrase_file:
        passphrase = args.passphrase_file.read_text().strip()
    else:
        passphrase = getpass.getpass("Phrase secrète : ").strip()
    try:
        manifest = open_package(args.package, passphrase, args.out)
    except (PackageError, TamperedError, KeyError, zipfile.BadZipFile) as exc:
        print(f"ÉCHEC : {exc}", file=sys.stderr)
        return 1
    key = manifest["signature"]["public_key"]
    print("Paquet intact, signature valide.")
    print(f"Empreinte de la clé de signature : {fingerprint(key)}")
    print("(comparez-la avec celle communiquée par l'administration pénitentiaire)")
    for entry in manifest["files"]:
        print(f"  {args.out / entry['plaintext_name']}  sha256 {entry['plaintext_sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
