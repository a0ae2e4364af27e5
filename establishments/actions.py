"""The write path for establishments' equipment: kiosk devices."""

from django.db import transaction
from django.utils import timezone

from audit.log import record
from calls.access import new_kiosk_credential
from establishments.models import KioskDevice
from parloir import access
from parloir.reasons import require_reason
from people.models import StaffUser


@transaction.atomic
def do_register_kiosk(room, label: str, *, actor: StaffUser):
    """Authorize a kiosk device for a room; returns (device, credential shown once)."""
    access.require(actor, access.Can.MANAGE_ESTABLISHMENT, room.quarter.establishment_id)
    credential, prefix, credential_hash = new_kiosk_credential()
    device = KioskDevice.objects.create(
        room=room,
        label=label,
        credential_prefix=prefix,
        credential_hash=credential_hash,
        authorized_at=timezone.now(),
    )
    record(
        "kiosk.registered",
        actor=actor,
        establishment=room.quarter.establishment_id,
        target=device,
        data={"room": room.pk, "label": label},
    )
    return device, credential


@transaction.atomic
def do_revoke_kiosk(device, *, reason: str, actor: StaffUser) -> None:
    reason = require_reason(reason)
    access.require(actor, access.Can.MANAGE_ESTABLISHMENT, device.room.quarter.establishment_id)
    device.revoked_at = timezone.now()
    device.save(update_fields=["revoked_at"])
    record(
        "kiosk.revoked",
        actor=actor,
        establishment=device.room.quarter.establishment_id,
        target=device,
        data={"reason": reason},
    )
