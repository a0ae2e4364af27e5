"""Encryption at rest: round trips, random access, and every way of altering a file caught."""

import io
import os
import struct

import pytest

from recordings import crypto, fileformat
from recordings.crypto import EncryptedFile, MasterKey, TamperedError

KEY = bytes(range(32))
FILE_ID = b"0123456789abcdef"
CHUNK = 1024


def _seal(tmp_path, plaintext: bytes, chunk_size: int = CHUNK):
    source = tmp_path / "plain"
    source.write_bytes(plaintext)
    target = tmp_path / "sealed.prec"
    sealed = crypto.encrypt_file(source, target, KEY, FILE_ID, chunk_size=chunk_size)
    return target, sealed


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 7])
def test_it_round_trips_any_size(tmp_path, size):
    plaintext = os.urandom(size)
    path, sealed = _seal(tmp_path, plaintext)
    assert sealed.plaintext_size == size and path.stat().st_size == sealed.stored_size
    assert sealed.sha256 == crypto.sha256_file(path)
    with EncryptedFile(path, KEY, FILE_ID, expected_size=sealed.stored_size) as media:
        assert media.size == size
        assert b"".join(media) == plaintext
        assert media.verify() == sealed.plaintext_sha256
    assert len(plaintext) < 16 or plaintext[:64] not in path.read_bytes()


def test_it_decrypts_any_byte_range_from_the_chunks_that_hold_it(tmp_path):
    plaintext = os.urandom(7 * CHUNK + 300)
    path, _ = _seal(tmp_path, plaintext)
    with EncryptedFile(path, KEY, FILE_ID) as media:
        for start, end in [
            (0, 0),
            (0, CHUNK - 1),
            (CHUNK - 1, CHUNK),
            (3 * CHUNK + 5, 5 * CHUNK + 9),
            (len(plaintext) - 1, len(plaintext) - 1),
            (0, len(plaintext) - 1),
        ]:
            assert b"".join(media.read_range(start, end)) == plaintext[start : end + 1]
        with pytest.raises(ValueError):
            list(media.read_range(0, len(plaintext)))


def test_it_detects_a_flipped_byte_anywhere(tmp_path):
    path, _ = _seal(tmp_path, os.urandom(3 * CHUNK))
    original = path.read_bytes()
    for offset in (3, 14, 30, fileformat.HEADER_SIZE + 10, len(original) - 1):
        altered = bytearray(original)
        altered[offset] ^= 0x01
        path.write_bytes(bytes(altered))
        with pytest.raises(TamperedError):
            with EncryptedFile(path, KEY, FILE_ID) as media:
                media.verify()


def test_it_detects_truncation_at_a_chunk_boundary_and_inside_a_chunk(tmp_path):
    path, sealed = _seal(tmp_path, os.urandom(3 * CHUNK + 10))
    original = path.read_bytes()
    whole_chunks = fileformat.HEADER_SIZE + 2 * (CHUNK + fileformat.TAG_SIZE)
    for length in (whole_chunks, whole_chunks + 5, fileformat.HEADER_SIZE, 10):
        path.write_bytes(original[:length])
        with pytest.raises(TamperedError):
            with EncryptedFile(path, KEY, FILE_ID) as media:
                media.verify()
    # The stored size catches it before any decryption, whatever range is asked.
    path.write_bytes(original[:whole_chunks])
    with pytest.raises(TamperedError, match="were written"):
        EncryptedFile(path, KEY, FILE_ID, expected_size=sealed.stored_size)


def test_it_detects_reordered_chunks_and_a_file_of_another_recording(tmp_path):
    path, _ = _seal(tmp_path, os.urandom(3 * CHUNK))
    data = path.read_bytes()
    head, size = fileformat.HEADER_SIZE, CHUNK + fileformat.TAG_SIZE
    chunks = [data[head + i * size : head + (i + 1) * size] for i in range(3)]
    path.write_bytes(data[:head] + chunks[1] + chunks[0] + chunks[2])
    with pytest.raises(TamperedError, match="chunk 0"):
        EncryptedFile(path, KEY, FILE_ID).chunk(0)
    path.write_bytes(data)
    with pytest.raises(TamperedError, match="another recording"):
        EncryptedFile(path, KEY, b"fedcba9876543210")
    with pytest.raises(TamperedError):
        EncryptedFile(path, bytes(32), FILE_ID).chunk(0)


def test_it_refuses_a_header_that_was_edited(tmp_path):
    path, _ = _seal(tmp_path, os.urandom(2 * CHUNK))
    data = bytearray(path.read_bytes())
    # A larger chunk size would make the reader cut chunks elsewhere: the AAD says no.
    data[8:12] = struct.pack(">I", 2 * CHUNK)
    path.write_bytes(bytes(data))
    with pytest.raises(TamperedError):
        EncryptedFile(path, KEY, FILE_ID).verify()


def test_wrapped_keys_open_only_for_their_recording_and_master_key():
    master = MasterKey.from_secret("a" * 40)
    other = MasterKey.from_secret("b" * 40)
    file_key = crypto.new_file_key()
    wrapped = master.wrap(file_key, crypto.key_context(FILE_ID))
    assert len(wrapped) == 61 and file_key not in wrapped
    assert master.unwrap(wrapped, crypto.key_context(FILE_ID)) == file_key
    with pytest.raises(TamperedError):
        master.unwrap(wrapped, crypto.key_context(b"another-file-id!"))
    with pytest.raises(TamperedError):
        other.unwrap(wrapped, crypto.key_context(FILE_ID))
    assert master.id != other.id and master.id == MasterKey.from_secret("a" * 40).id
    with pytest.raises(crypto.CryptoError):
        MasterKey.from_secret("short")


def test_the_keyring_finds_older_master_keys_by_id(settings):
    settings.RECORDING_MASTER_KEY = "n" * 40
    settings.RECORDING_OLD_MASTER_KEYS = "o" * 40 + ", " + "p" * 40
    ring = crypto.keyring()
    assert ring.current.id == MasterKey.from_secret("n" * 40).id
    assert ring.get(MasterKey.from_secret("p" * 40).id).id == MasterKey.from_secret("p" * 40).id
    with pytest.raises(crypto.MissingMasterKey):
        ring.get(MasterKey.from_secret("q" * 40).id)
    settings.RECORDING_MASTER_KEY = None
    with pytest.raises(crypto.NoMasterKey):
        crypto.keyring()


def test_the_stream_reader_hands_plaintext_on_in_any_piece_size(tmp_path):
    plaintext = os.urandom(4 * CHUNK + 3)
    path, _ = _seal(tmp_path, plaintext)
    with EncryptedFile(path, KEY, FILE_ID) as media:
        reader = fileformat.PlaintextReader(media)
        out = io.BytesIO()
        while piece := reader.read(700):
            out.write(piece)
    assert out.getvalue() == plaintext


def test_signatures_verify_and_catch_any_change(settings):
    settings.RECORDING_MASTER_KEY = "m" * 40
    settings.RECORDING_SIGNING_KEY = None
    payload = crypto.canonical_json({"b": 1, "a": "é"})
    signature = crypto.sign(payload)
    public = crypto.public_key_b64()
    assert crypto.verify_signature(payload, signature, public)
    assert not crypto.verify_signature(payload.replace(b"1", b"2"), signature, public)
    settings.RECORDING_SIGNING_KEY = "s" * 40
    assert crypto.public_key_b64() != public
