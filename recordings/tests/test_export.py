"""Packages for a judicial authority, opened the way the recipient opens them: with the
dechiffrer.py inside, in a separate Python process that knows nothing of parloir."""

import json
import subprocess
import sys
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from recordings import crypto, export, fileformat, keys
from recordings.models import Export, Hold

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rec_settings")]

PASSPHRASE = "tribunal-nantes-2026-correct-horse"


def _open(package, out, passphrase=PASSPHRASE):
    """Run the package's own tool, as the recipient would."""
    tool = out.parent / "tool"
    tool.mkdir(exist_ok=True)
    with zipfile.ZipFile(package) as archive:
        archive.extract("dechiffrer.py", tool)
    secret = out.parent / "phrase.txt"
    secret.write_text(passphrase)
    return subprocess.run(
        [sys.executable, "-I", str(tool / "dechiffrer.py"), str(package), str(out)]
        + ["--passphrase-file", str(secret)],
        capture_output=True,
        text=True,
        cwd=tool,
        check=False,
    )


def test_the_command_makes_a_package_the_recipient_can_check_and_open(recording, tmp_path):
    phrase = tmp_path / "given.txt"
    phrase.write_text(PASSPHRASE)
    package = tmp_path / "paquet.zip"
    stdout = StringIO()

    call_command(
        "recordings_export",
        "--call",
        str(recording.call_id),
        "--authority",
        "Juge d'instruction, TJ de Rennes",
        "--reference",
        "JI 26/00042",
        "--out",
        str(package),
        "--passphrase-file",
        str(phrase),
        stdout=stdout,
    )

    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        raw = b"".join(archive.read(n) for n in names)
    assert names == {
        "manifest.json",
        "manifest.sig",
        "media.webm.enc",
        "details.json.enc",
        "dechiffrer.py",
        "LISEZMOI.txt",
    }
    # No personal data, and no media, in clear.
    assert recording.call.detainee.last_name.encode() not in raw
    assert b"webm" not in archive_member(package, "media.webm.enc")[:4096].lower()
    assert manifest["reference"] == "JI 26/00042" and manifest["signature"]["public_key"]
    assert "Passphrase" not in stdout.getvalue()  # it was given, not generated

    result = _open(package, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert fileformat.fingerprint(crypto.public_key_b64()) in result.stdout
    media = (tmp_path / "out" / "media.webm").read_bytes()
    with keys.open_plaintext(recording) as stored:
        assert media == b"".join(stored)
    details = json.loads((tmp_path / "out" / "details.json").read_text())
    assert details["detainee"]["prison_number"] == recording.call.detainee.prison_number

    export_row = Export.objects.get()
    assert export_row.sha256 == crypto.sha256_file(package) and export_row.file_name == ""
    event = AuditEvent.objects.get(action="recording.exported")
    assert event.data["reference"] == "JI 26/00042"
    assert Hold.objects.get(recording=recording).kind == Hold.Kind.JUDICIAL


def test_a_wrong_passphrase_or_an_altered_package_is_refused(recording, tmp_path):
    made = export.make_package(
        recording,
        authority="Parquet",
        reference="P 1",
        passphrase=PASSPHRASE,
        out=tmp_path / "p.zip",
        scrypt_n=2**14,
    )
    assert "Wrong passphrase" in _open(made.path, tmp_path / "a", "not-the-passphrase").stderr

    with zipfile.ZipFile(made.path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    altered = bytearray(members["media.webm.enc"])
    altered[5000] ^= 1
    _rezip(tmp_path / "b.zip", {**members, "media.webm.enc": bytes(altered)})
    assert "checksum differs" in _open(tmp_path / "b.zip", tmp_path / "b").stderr

    manifest = json.loads(members["manifest.json"])
    manifest["reference"] = "P 2"
    _rezip(tmp_path / "c.zip", {**members, "manifest.json": json.dumps(manifest).encode()})
    assert "signature" in _open(tmp_path / "c.zip", tmp_path / "c").stderr


def test_a_generated_passphrase_is_long_and_unambiguous():
    phrase = export.new_passphrase()
    assert len(phrase) == 29 and set(phrase) <= set(export.PASSPHRASE_ALPHABET + "-")
    assert export.new_passphrase() != phrase


def archive_member(package, name) -> bytes:
    with zipfile.ZipFile(package) as archive:
        return archive.read(name)


def _rezip(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
