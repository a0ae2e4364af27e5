"""The only place that changes people: detainees, contacts, suspensions, roles.

Each function runs in a transaction and writes its audit event in it. The layers
above follow a change through people.hooks, in the same transaction.
"""

import re
import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.log import record
from parloir import access
from parloir.reasons import require_reason
from people import hooks
from people.models import (
    AuthorizedContact,
    ContactDecision,
    Detainee,
    LedgerEntry,
    PhoneAccount,
    Role,
    StaffUser,
    Suspension,
)
from people.phones import parse_phone

PIN_RE = re.compile(r"^[0-9]{4,8}$")


def validate_pin(pin: str) -> None:
    if not PIN_RE.match(pin or ""):
        raise ValidationError(_("Le code PIN doit comporter de 4 à 8 chiffres."), code="pin")


@transaction.atomic
def do_set_pin(account: PhoneAccount, pin: str, *, actor: StaffUser) -> None:
    validate_pin(pin)
    account.set_pin(pin)
    account.failed_pin_attempts = 0
    account.locked_until = None
    account.save(update_fields=["pin_hash", "failed_pin_attempts", "locked_until"])
    record(
        "phone_account.pin_set",
        actor=actor,
        establishment=account.detainee.establishment_id,
        target=account,
    )


@transaction.atomic
def do_open_account(detainee: Detainee, pin: str, *, actor: StaffUser) -> PhoneAccount:
    validate_pin(pin)
    account = PhoneAccount(detainee=detainee, active=True)
    account.set_pin(pin)
    account.save()
    record(
        "phone_account.opened", actor=actor, establishment=detainee.establishment_id, target=account
    )
    return account


@transaction.atomic
def do_post_ledger(
    account: PhoneAccount, amount_cents: int, kind: str, label: str, *, actor: StaffUser | None
) -> LedgerEntry:
    entry = LedgerEntry.objects.create(
        account=account, amount_cents=amount_cents, kind=kind, label=label, created_by=actor
    )
    record(
        "phone_account.ledger",
        actor=actor,
        establishment=account.detainee.establishment_id,
        target=account,
        data={"amount_cents": amount_cents, "kind": kind, "label": label},
    )
    return entry


@transaction.atomic
def do_request_contact(
    detainee: Detainee,
    *,
    first_name: str,
    last_name: str,
    phone: str,
    relationship: str,
    language: str = "fr",
    actor: StaffUser,
) -> AuthorizedContact:
    parsed = parse_phone(phone)
    if AuthorizedContact.objects.filter(
        detainee=detainee,
        phone_number=parsed.e164,
        status__in=[AuthorizedContact.Status.REQUESTED, AuthorizedContact.Status.APPROVED],
    ).exists():
        raise ValidationError(
            _("Ce numéro est déjà autorisé ou en demande pour cette personne détenue."),
            code="duplicate",
        )
    contact = AuthorizedContact(
        detainee=detainee,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        phone_number=parsed.e164,
        line_type=parsed.line_type,
        relationship=relationship,
        language=language,
    )
    contact.full_clean()
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        # A concurrent request for the same number won the race.
        raise ValidationError(
            _("Ce numéro est déjà autorisé ou en demande pour cette personne détenue."),
            code="duplicate",
        ) from None
    record(
        "contact.requested",
        actor=actor,
        establishment=detainee.establishment_id,
        target=contact,
        data={"detainee": detainee.pk, "phone": parsed.e164, "line_type": parsed.line_type},
    )
    return contact


@transaction.atomic
def do_decide_contact(
    contact: AuthorizedContact, to_status: str, *, reason: str, actor: StaffUser
) -> ContactDecision:
    """Move a contact along its workflow (approve, refuse, revoke), with a reason."""
    reason = require_reason(reason)
    access.require(actor, access.Can.DECIDE_CONTACTS, contact.detainee.establishment_id)
    # Lock the row so two clerks deciding at once cannot both succeed.
    contact = AuthorizedContact.objects.select_for_update().get(pk=contact.pk)
    from_status = contact.status
    if to_status not in AuthorizedContact.TRANSITIONS[from_status]:
        raise ValidationError(
            _("Impossible de passer de « %(from)s » à « %(to)s »."),
            code="transition",
            params={
                "from": AuthorizedContact.Status(from_status).label,
                "to": AuthorizedContact.Status(to_status).label,
            },
        )
    contact.status = to_status
    contact.save(update_fields=["status"])
    decision = ContactDecision.objects.create(
        contact=contact,
        from_status=from_status,
        to_status=to_status,
        decided_by=actor,
        reason=reason,
    )
    record(
        f"contact.{to_status}",
        actor=actor,
        establishment=contact.detainee.establishment_id,
        target=contact,
        data={"from": from_status, "to": to_status, "reason": reason},
    )
    if to_status == AuthorizedContact.Status.REVOKED:
        hooks.contact_revoked(contact, actor=actor)
    return decision


@transaction.atomic
def do_suspend(
    detainee: Detainee,
    *,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    actor: StaffUser,
) -> Suspension:
    reason = require_reason(reason)
    access.require(actor, access.Can.SUSPEND, detainee.establishment_id)
    if ends_at <= starts_at:
        raise ValidationError(
            _("La fin de la suspension doit suivre son début."), code="suspension_order"
        )
    suspension = Suspension.objects.create(
        detainee=detainee, starts_at=starts_at, ends_at=ends_at, reason=reason, decided_by=actor
    )
    record(
        "suspension.decided",
        actor=actor,
        establishment=detainee.establishment_id,
        target=suspension,
        data={
            "detainee": detainee.pk,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "reason": reason,
        },
    )
    hooks.suspension_decided(suspension, actor=actor)
    return suspension


@transaction.atomic
def do_lift_suspension(suspension: Suspension, *, reason: str, actor: StaffUser) -> Suspension:
    reason = require_reason(reason)
    access.require(actor, access.Can.SUSPEND, suspension.detainee.establishment_id)
    suspension = Suspension.objects.select_for_update().get(pk=suspension.pk)
    if suspension.lifted_at is not None:
        raise ValidationError(_("Cette suspension est déjà levée."), code="already_lifted")
    suspension.lifted_at = timezone.now()
    suspension.lifted_by = actor
    suspension.lift_reason = reason
    suspension.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    record(
        "suspension.lifted",
        actor=actor,
        establishment=suspension.detainee.establishment_id,
        target=suspension,
        data={"reason": reason},
    )
    return suspension


@transaction.atomic
def do_change_detainee_status(detainee: Detainee, status: str, *, actor: StaffUser) -> Detainee:
    access.require(actor, access.Can.MANAGE_DETAINEES, detainee.establishment_id)
    detainee = Detainee.objects.select_for_update().get(pk=detainee.pk)
    previous = detainee.status
    if previous == status:
        return detainee
    detainee.status = status
    detainee.status_changed_at = timezone.now()
    detainee.save(update_fields=["status", "status_changed_at"])
    record(
        "detainee.status_changed",
        actor=actor,
        establishment=detainee.establishment_id,
        target=detainee,
        data={"from": previous, "to": status},
    )
    if status != Detainee.Status.PRESENT:
        hooks.detainee_left(detainee, actor=actor)
    return detainee


@transaction.atomic
def do_move_detainee(detainee: Detainee, quarter, *, actor: StaffUser) -> Detainee:
    """Move a detainee to another quarter of his establishment; his bookings in the
    rooms of the quarter he leaves are cancelled and his relatives told."""
    access.require(actor, access.Can.MANAGE_DETAINEES, detainee.establishment_id)
    if quarter.establishment_id != detainee.establishment_id:
        raise ValidationError(
            {"quarter": _("Ce quartier n'appartient pas à l'établissement choisi.")},
            code="quarter",
        )
    detainee = Detainee.objects.select_for_update().get(pk=detainee.pk)
    previous = detainee.quarter_id
    if previous == quarter.pk:
        return detainee
    detainee.quarter = quarter
    detainee.save(update_fields=["quarter"])
    record(
        "detainee.moved",
        actor=actor,
        establishment=detainee.establishment_id,
        target=detainee,
        data={"from": previous, "to": quarter.pk},
    )
    hooks.detainee_moved(detainee, actor=actor)
    return detainee


@transaction.atomic
def do_grant_role(user: StaffUser, name: str, establishment, *, actor: StaffUser | None) -> Role:
    role = Role(user=user, name=name, establishment=establishment)
    role.full_clean()
    role.save()
    access.forget_roles(user)
    record(
        "role.granted",
        actor=actor,
        establishment=establishment,
        target=role,
        data={"user": user.get_username(), "role": name},
    )
    return role


@transaction.atomic
def do_revoke_role(role: Role, *, actor: StaffUser | None) -> None:
    record(
        "role.revoked",
        actor=actor,
        establishment=role.establishment_id,
        target=role,
        data={"user": role.user.get_username(), "role": role.name},
    )
    role.delete()
    access.forget_roles(role.user)


PIN_MAX_FAILURES = 5
PIN_LOCKOUT_MINUTES = 15


class SignInRefused(Exception):
    """Same text whatever was wrong, so a kiosk cannot be used to probe prison numbers."""


_DUMMY_PIN_HASHES: dict[str, str] = {}


def _dummy_pin_hash() -> str:
    """A real hash of a random PIN, under the current hasher, made once per hasher."""
    from django.contrib.auth.hashers import get_hasher, make_password

    algorithm = get_hasher().algorithm
    if algorithm not in _DUMMY_PIN_HASHES:
        _DUMMY_PIN_HASHES[algorithm] = make_password(secrets.token_hex(8))
    return _DUMMY_PIN_HASHES[algorithm]


def _pin_matches(account, pin: str, locked: bool) -> bool:
    """Exactly one PIN hash whatever was wrong: an unknown prison number, a locked account
    or a malformed PIN must take as long as a wrong PIN, or the kiosk's timing tells
    which prison numbers exist (issue #17, finding 5)."""
    from django.contrib.auth.hashers import check_password

    if account is not None and account.pin_hash and not locked and PIN_RE.match(pin or ""):
        return account.check_pin(pin)
    check_password(pin or "", _dummy_pin_hash())
    return False


def do_kiosk_sign_in(establishment_id: int, prison_number: str, pin: str) -> Detainee:
    """Check a prison number and PIN typed at a kiosk, with lockout after repeated failures.

    Failures are committed before raising, so the lockout holds.
    """
    from datetime import timedelta

    from django.db.models import F

    now = timezone.now()
    with transaction.atomic():
        account = (
            PhoneAccount.objects.select_for_update()
            .select_related("detainee")
            .filter(
                detainee__establishment_id=establishment_id,
                detainee__prison_number=(prison_number or "").strip()[:64],
            )
            .first()
        )
        locked = account is not None and account.locked_until and account.locked_until > now
        ok = _pin_matches(account, pin, bool(locked))
        if account is not None and not locked:
            if ok:
                account.failed_pin_attempts = 0
                account.locked_until = None
                account.save(update_fields=["failed_pin_attempts", "locked_until"])
            else:
                PhoneAccount.objects.filter(pk=account.pk).update(
                    failed_pin_attempts=F("failed_pin_attempts") + 1
                )
                account.refresh_from_db(fields=["failed_pin_attempts"])
                if account.failed_pin_attempts >= PIN_MAX_FAILURES:
                    account.locked_until = now + timedelta(minutes=PIN_LOCKOUT_MINUTES)
                    account.failed_pin_attempts = 0
                    account.save(update_fields=["locked_until", "failed_pin_attempts"])
                    record(
                        "phone_account.locked",
                        establishment=establishment_id,
                        target=account,
                        actor_label="kiosk",
                    )
    if not ok:
        raise SignInRefused
    return account.detainee


@transaction.atomic
def do_reset_second_factor(user: StaffUser, *, reason: str, actor: StaffUser) -> int:
    """Forget a staff member's authenticator (a lost phone): they enrol a new one at sign-in."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    reason = require_reason(reason)
    if user.pk == actor.pk:
        raise ValidationError(
            _("Un autre agent doit réinitialiser votre second facteur."), code="self"
        )
    deleted, _detail = TOTPDevice.objects.filter(user=user).delete()
    held = set(user.roles.values_list("establishment_id", flat=True))
    record(
        "staff.totp_reset",
        actor=actor,
        establishment=held.pop() if len(held) == 1 else None,
        target=user,
        data={"reason": reason, "devices": deleted},
    )
    return deleted
