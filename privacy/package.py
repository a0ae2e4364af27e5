"""The right of access: every piece of data held about one relative (by phone number) or
one detainee (by prison number), as JSON for machines and as text for people.

Within the establishments the requesting staff member may export for (or all, for the
management command). Secrets are left out (hashes, tokens, media room secrets, keys):
they are not information about the person and would let someone act as them. What a
row says about someone else (the relative's address in a detainee's package) is left
out too; each package says which fields were withheld and why.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from audit.log import record
from audit.models import AuditEvent
from bookings.models import Booking, BookingContact, BookingNotice, BookingTransition
from calls.models import (
    Call,
    CallCode,
    CallRelative,
    CallTransition,
    CallWarning,
    Consent,
    Participant,
)
from notify.models import Attempt, Message
from people.models import (
    AuthorizedContact,
    ContactDecision,
    Detainee,
    LedgerEntry,
    PhoneAccount,
    Suspension,
)
from recordings.models import Hold, Recording

FORMAT = "parloir-access-package/1"

# Never exported: credentials and secrets, which say nothing about the person.
SECRET_FIELDS = {
    "pin_hash",
    "code_hash",
    "seat_hash",
    "resume_token_hash",
    "link_token",
    "token",
    "janus_room_pin",
    "janus_room_secret",
    "wrapped_key",
    "claim_token",
    "claimed_by",
    "key_id",
    "prev_hash",
    "hash",
}
# Withheld from a detainee's package: what identifies the relative's device.
RELATIVE_DEVICE_FIELDS = {"client_ip", "user_agent"}


@dataclass
class Package:
    subject: dict
    tables: dict[str, list[dict]] = field(default_factory=dict)
    withheld: dict[str, str] = field(default_factory=dict)
    generated_at: datetime = field(default_factory=timezone.now)
    generated_by: str = ""

    @property
    def rows(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    def document(self) -> dict:
        return {
            "format": FORMAT,
            "generated_at": self.generated_at.isoformat(),
            "generated_by": self.generated_by,
            "subject": self.subject,
            "withheld": self.withheld,
            "tables": self.tables,
        }

    def json_bytes(self) -> bytes:
        return json.dumps(self.document(), indent=2, ensure_ascii=False, sort_keys=True).encode()

    def text(self) -> str:
        """The same content, for a person: one block per row, each field on its line."""
        out = io.StringIO()
        out.write("Données personnelles détenues par parloir / Personal data held by parloir\n")
        out.write(f"Généré le / generated at: {self.generated_at:%Y-%m-%d %H:%M %Z}\n")
        for key, value in self.subject.items():
            out.write(f"{key}: {value}\n")
        for label, reason in self.withheld.items():
            out.write(f"Non communiqué / withheld: {label} ({reason})\n")
        for table, rows in sorted(self.tables.items()):
            model = _MODELS[table]
            out.write(f"\n== {model._meta.verbose_name_plural} ({table}): {len(rows)} ==\n")
            names = {f.attname: str(getattr(f, "verbose_name", f.name)) for f in _fields(model)}
            for row in rows:
                out.write("\n")
                for key, value in row.items():
                    shown = value
                    if isinstance(value, dict | list):
                        shown = json.dumps(value, ensure_ascii=False)
                    out.write(f"  {names.get(key, key)}: {'' if shown is None else shown}\n")
        return out.getvalue()

    def zip_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("donnees.json", self.json_bytes())
            archive.writestr("donnees.txt", self.text().encode())
        return buffer.getvalue()


_MODELS: dict[str, type[models.Model]] = {
    m._meta.label_lower: m
    for m in (
        AuthorizedContact,
        ContactDecision,
        Detainee,
        PhoneAccount,
        LedgerEntry,
        Suspension,
        Booking,
        BookingContact,
        BookingTransition,
        BookingNotice,
        Call,
        CallRelative,
        CallTransition,
        CallWarning,
        CallCode,
        Consent,
        Participant,
        Message,
        Attempt,
        Recording,
        Hold,
        AuditEvent,
    )
}


def _fields(model):
    return [f for f in model._meta.concrete_fields if f.name not in SECRET_FIELDS]


def _value(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return None
    if hasattr(value, "hex") and not isinstance(value, int | float | str):
        return str(value)
    return value


def _rows(queryset, drop: set[str] = frozenset()) -> list[dict]:
    fields = [f for f in _fields(queryset.model) if f.attname not in drop]
    return [
        {f.attname: _value(f.value_from_object(obj)) for f in fields}
        for obj in queryset.order_by("pk")
    ]


def _add(package: Package, queryset, drop: set[str] = frozenset()) -> None:
    rows = _rows(queryset, drop)
    if rows:
        package.tables.setdefault(queryset.model._meta.label_lower, []).extend(rows)


def _calls_and_more(package: Package, calls, bookings, *, drop_device: bool) -> None:
    """What hangs off calls and bookings, for either kind of subject."""
    drop = RELATIVE_DEVICE_FIELDS if drop_device else set()
    call_ids = list(calls.values_list("pk", flat=True))
    booking_ids = list(bookings.values_list("pk", flat=True)) + list(
        calls.values_list("booking_id", flat=True)
    )
    _add(package, Booking.objects.filter(pk__in=booking_ids))
    _add(package, BookingContact.objects.filter(booking_id__in=booking_ids))
    _add(package, BookingTransition.objects.filter(booking_id__in=booking_ids))
    _add(package, BookingNotice.objects.filter(booking_id__in=booking_ids))
    _add(package, Call.objects.filter(pk__in=call_ids))
    _add(package, CallRelative.objects.filter(call_id__in=call_ids))
    _add(package, CallTransition.objects.filter(call_id__in=call_ids))
    _add(package, CallWarning.objects.filter(call_id__in=call_ids))
    _add(package, CallCode.objects.filter(call_id__in=call_ids))
    _add(package, Consent.objects.filter(call_id__in=call_ids), drop)
    _add(package, Participant.objects.filter(call_id__in=call_ids))
    recordings = Recording.objects.filter(call_id__in=call_ids)
    _add(package, recordings)
    _add(package, Hold.objects.filter(recording__in=recordings))
    return call_ids, booking_ids


def _audit(package: Package, targets: dict[str, list[int]]) -> None:
    query = Q(pk__in=[])
    for target_type, ids in targets.items():
        if ids:
            query |= Q(target_type=target_type, target_id__in=[str(pk) for pk in ids])
    _add(package, AuditEvent.objects.filter(query))


def for_relative(phone_number: str, establishment_ids: set[int] | None) -> Package:
    contacts = AuthorizedContact.objects.filter(phone_number=phone_number)
    messages = Message.objects.filter(Q(to_number=phone_number) | Q(contact__in=contacts))
    if establishment_ids is not None:
        contacts = contacts.filter(detainee__establishment_id__in=establishment_ids)
        messages = messages.filter(establishment_id__in=establishment_ids)
    package = Package(subject={"kind": "relative", "phone_number": phone_number})
    _add(package, contacts)
    _add(package, ContactDecision.objects.filter(contact__in=contacts))
    # Calls and bookings naming the relative first, or among others (issue #19).
    calls = Call.objects.filter(
        Q(contact__in=contacts)
        | Q(pk__in=CallRelative.objects.filter(contact__in=contacts).values("call_id"))
    )
    bookings = Booking.objects.filter(
        Q(contact__in=contacts)
        | Q(pk__in=BookingContact.objects.filter(contact__in=contacts).values("booking_id"))
    )
    call_ids, booking_ids = _calls_and_more(package, calls, bookings, drop_device=False)
    _add(package, messages)
    _add(package, Attempt.objects.filter(message__in=messages))
    package.withheld["secrets"] = "codes, jetons et clés : ils ne disent rien de la personne"
    _audit(
        package,
        {
            "AuthorizedContact": list(contacts.values_list("pk", flat=True)),
            "Call": call_ids,
            "Booking": booking_ids,
        },
    )
    return package


def for_detainee(prison_number: str, establishment_ids: set[int] | None) -> Package:
    detainees = Detainee.objects.filter(prison_number=prison_number)
    if establishment_ids is not None:
        detainees = detainees.filter(establishment_id__in=establishment_ids)
    package = Package(subject={"kind": "detainee", "prison_number": prison_number})
    _add(package, detainees)
    _add(package, PhoneAccount.objects.filter(detainee__in=detainees))
    _add(package, LedgerEntry.objects.filter(account__detainee__in=detainees))
    _add(package, Suspension.objects.filter(detainee__in=detainees))
    contacts = AuthorizedContact.objects.filter(detainee__in=detainees)
    _add(package, contacts)
    _add(package, ContactDecision.objects.filter(contact__in=contacts))
    calls = Call.objects.filter(detainee__in=detainees)
    bookings = Booking.objects.filter(detainee__in=detainees)
    call_ids, booking_ids = _calls_and_more(package, calls, bookings, drop_device=True)
    package.withheld["secrets"] = "codes, jetons et clés : ils ne disent rien de la personne"
    package.withheld["consent.client_ip, consent.user_agent"] = (
        "l'adresse et le navigateur du proche sont ses données, non celles de la personne détenue"
    )
    _audit(
        package,
        {
            "Detainee": list(detainees.values_list("pk", flat=True)),
            "Suspension": list(
                Suspension.objects.filter(detainee__in=detainees).values_list("pk", flat=True)
            ),
            "Call": call_ids,
            "Booking": booking_ids,
        },
    )
    return package


def export(
    kind: str,
    identifier: str,
    *,
    establishment_ids: set[int] | None,
    actor=None,
    actor_label: str = "",
) -> Package:
    """Build the package and audit that it was made: by whom, for which rows, its digest.

    The audit names the subject by its row ids, not by its number: the chain keeps it a
    year, the package's holder has the rest."""
    identifier = identifier.strip()
    if kind == "relative":
        package = for_relative(identifier, establishment_ids)
        rows = package.tables.get("people.authorizedcontact", [])
    elif kind == "detainee":
        package = for_detainee(identifier, establishment_ids)
        rows = package.tables.get("people.detainee", [])
    else:
        raise ValueError(f"Unknown subject kind {kind!r}")
    package.generated_by = actor.get_username() if actor else actor_label
    digest = hashlib.sha256(package.json_bytes()).hexdigest()
    # A director's export is in their establishment's audit; a wider one is national.
    establishments = sorted(establishment_ids or ())
    with transaction.atomic():
        record(
            "privacy.access_exported",
            actor=actor,
            actor_label=actor_label or None,
            establishment=establishments[0] if len(establishments) == 1 else None,
            data={
                "kind": kind,
                "subject_rows": [row["id"] for row in rows],
                "rows": package.rows,
                "sha256": digest,
            },
        )
    return package
