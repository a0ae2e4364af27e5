"""Packages for a judicial authority: the recording re-encrypted under a passphrase given to
the authority, a signed manifest with checksums, and the tool that opens it.

    parloir-<establishment>-appel-<call>.zip
      manifest.json     format, reference, authority, sizes and SHA-256 of every file
                        (encrypted and decrypted), scrypt parameters; no personal data
      manifest.sig      Ed25519 signature of manifest.json (base64)
      media.webm.enc    the recording, AES-256-GCM under a key derived from the passphrase
      details.json.enc  who, where and when (names, prison number, times), same key
      dechiffrer.py     recordings/fileformat.py, which checks and decrypts the package
      LISEZMOI.txt      how to open it

The media goes from the stored file to the package chunk by chunk: no plaintext copy is
written to disk. Exporting is audited and places a judicial hold with the same reference,
so the original is kept while the authority works on it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from recordings import crypto, fileformat, keys, retention
from recordings.events import audit
from recordings.models import Export, Hold, Recording

PASSPHRASE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing to confuse when read aloud
MIN_PASSPHRASE = 16

README = """Paquet d'enregistrement parloir – transmis à : {authority}
Référence : {reference}

Le fichier media.webm.enc contient l'enregistrement de l'appel, chiffré (AES-256-GCM).
La phrase secrète vous est communiquée séparément.

Pour vérifier et déchiffrer (Python 3 et le module « cryptography ») :

    python3 dechiffrer.py {name} dossier-de-sortie

L'outil vérifie la signature du manifeste et les empreintes SHA-256 de chaque fichier,
puis écrit media.webm (lisible par Firefox, Chrome ou VLC) et details.json.
Empreinte de la clé de signature : {fingerprint}
"""


def new_passphrase() -> str:
    groups = ["".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(5)) for _ in range(5)]
    return "-".join(groups)


@dataclass
class Made:
    export: Export
    path: Path
    passphrase: str


def _details(recording: Recording, export_id: str) -> dict:
    call = recording.call
    establishment = call.booking.room.quarter.establishment
    return {
        "export": export_id,
        "establishment": {"code": establishment.code, "name": establishment.name},
        "room": str(call.booking.room),
        "call": call.pk,
        "detainee": {
            "prison_number": call.detainee.prison_number,
            "last_name": call.detainee.last_name,
            "first_name": call.detainee.first_name,
        },
        "contact": {
            "last_name": call.contact.last_name,
            "first_name": call.contact.first_name,
            "relationship": call.contact.get_relationship_display(),
        },
        "call_started_at": call.started_at.isoformat() if call.started_at else None,
        "call_ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "call_state": call.state,
        "recording": {
            "id": str(recording.uuid),
            "media_started_at": (
                recording.media_started_at.isoformat() if recording.media_started_at else None
            ),
            "duration_seconds": recording.duration_seconds,
            "sha256_stored": recording.sha256,
            "problem": recording.problem,
        },
    }


def _entry(archive: zipfile.ZipFile, name: str, plaintext_name: str, source, key: bytes) -> dict:
    file_id = os.urandom(16)
    # Media does not compress: store it, and let the zip stream it as it is written.
    with archive.open(zipfile.ZipInfo(name), "w", force_zip64=True) as target:
        sealed = crypto.encrypt_stream(source, target, key, file_id)
    return {
        "name": name,
        "plaintext_name": plaintext_name,
        "file_id": file_id.hex(),
        "size": sealed.stored_size,
        "sha256": sealed.sha256,
        "plaintext_size": sealed.plaintext_size,
        "plaintext_sha256": sealed.plaintext_sha256,
    }


def make_package(
    recording: Recording,
    *,
    authority: str,
    reference: str,
    actor=None,
    actor_label: str = "",
    passphrase: str | None = None,
    out: Path | None = None,
    scrypt_n: int = fileformat.SCRYPT_N,
) -> Made:
    """Write the package (to ``out``, else to the exports folder for download) and audit it."""
    authority, reference = authority.strip(), reference.strip()
    if not authority or not reference:
        raise ValidationError(_("L'autorité et la référence sont obligatoires."), code="required")
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE:
        raise ValidationError(
            _("La phrase secrète doit comporter au moins %(n)s caractères.")
            % {"n": MIN_PASSPHRASE},
            code="passphrase",
        )
    recording = Recording.objects.select_related(
        "call__booking__room__quarter__establishment", "call__detainee", "call__contact"
    ).get(pk=recording.pk)
    if recording.state != Recording.State.READY:
        raise ValidationError(_("Cet enregistrement ne peut pas être exporté."), code="state")
    passphrase = passphrase or new_passphrase()
    export_id = uuid.uuid4()
    establishment = recording.call.booking.room.quarter.establishment
    name = f"parloir-{establishment.code}-appel-{recording.call_id}.zip"
    keep_on_server = out is None
    if keep_on_server:
        out = settings.RECORDINGS_DIR / "exports" / f"{export_id}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    salt = os.urandom(16)
    key = crypto.passphrase_key(passphrase, salt, n=scrypt_n)
    signer = crypto.signing_key()
    public = crypto.public_key_b64(signer)
    label = actor.get_username() if actor else (actor_label or "command")
    partial = out.with_name(out.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
            with keys.open_plaintext(recording) as media:
                media_entry = _entry(
                    archive, "media.webm.enc", "media.webm", fileformat.PlaintextReader(media), key
                )
            if media_entry["plaintext_sha256"] != recording.plaintext_sha256:
                raise crypto.TamperedError("The stored recording decrypts to other bytes")
            details = json.dumps(_details(recording, str(export_id)), indent=2, ensure_ascii=False)
            details_entry = _entry(
                archive, "details.json.enc", "details.json", io.BytesIO(details.encode()), key
            )
            manifest = {
                "format": fileformat.PACKAGE_FORMAT,
                "export": str(export_id),
                "created_at": timezone.now().isoformat(),
                "created_by": label,
                "authority": authority,
                "reference": reference,
                "establishment": establishment.code,
                "encryption": {
                    "cipher": "AES-256-GCM, chunks of 64 KiB (see dechiffrer.py)",
                    "kdf": {
                        "name": "scrypt",
                        "n": scrypt_n,
                        "r": fileformat.SCRYPT_R,
                        "p": fileformat.SCRYPT_P,
                        "salt": base64.b64encode(salt).decode(),
                    },
                },
                "files": [media_entry, details_entry],
                "signature": {"algorithm": "Ed25519", "public_key": public},
            }
            manifest_bytes = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            archive.writestr("manifest.json", manifest_bytes)
            archive.writestr("manifest.sig", crypto.sign(manifest_bytes, signer) + "\n")
            archive.write(Path(fileformat.__file__), "dechiffrer.py")
            archive.writestr(
                "LISEZMOI.txt",
                README.format(
                    authority=authority,
                    reference=reference,
                    name=name,
                    fingerprint=fileformat.fingerprint(public),
                ),
            )
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    digest, size = crypto.sha256_file(out), out.stat().st_size
    with transaction.atomic():
        export = Export.objects.create(
            id=export_id,
            recording=recording,
            authority=authority[:200],
            reference=reference[:200],
            created_by=actor,
            created_by_label=label,
            sha256=digest,
            size=size,
            file_name=str(out.relative_to(settings.RECORDINGS_DIR)) if keep_on_server else "",
            available_until=timezone.now() + timedelta(hours=settings.RECORDINGS_EXPORT_HOURS),
            removed_at=None if keep_on_server else timezone.now(),
        )
        audit(
            "recording.exported",
            recording,
            actor=actor,
            label=label,
            data={
                "export": str(export_id),
                "authority": export.authority,
                "reference": export.reference,
                "package_sha256": digest,
                "media_sha256": media_entry["plaintext_sha256"],
            },
        )
        if not recording.holds.filter(
            lifted_at__isnull=True, kind=Hold.Kind.JUDICIAL, reference=export.reference
        ).exists():
            retention.place_hold(
                recording,
                Hold.Kind.JUDICIAL,
                export.reference,
                actor=actor,
                note=_("Export pour %(authority)s") % {"authority": export.authority},
            )
    return Made(export, out, passphrase)


def stored_package(export: Export) -> Path | None:
    if not export.file_name or export.removed_at is not None:
        return None
    if export.available_until <= timezone.now():
        return None
    path = settings.RECORDINGS_DIR / export.file_name
    return path if path.exists() else None


def count_download(export: Export, actor) -> None:
    with transaction.atomic():
        Export.objects.filter(pk=export.pk).update(downloads=F("downloads") + 1)
        audit(
            "recording.export_downloaded",
            export.recording,
            actor=actor,
            data={"export": str(export.pk), "reference": export.reference},
        )


def remove_expired(now=None) -> int:
    """Delete packages past their download window (the Export rows stay)."""
    now = now or timezone.now()
    removed = 0
    for export in Export.objects.filter(removed_at__isnull=True, available_until__lte=now):
        if export.file_name:
            (settings.RECORDINGS_DIR / export.file_name).unlink(missing_ok=True)
        Export.objects.filter(pk=export.pk).update(removed_at=now)
        removed += 1
    return removed
