from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from establishments.models import Establishment, Quarter
from people.phones import LineType


class StaffUser(AbstractUser):
    """A member of prison staff. What they may see and do comes from their roles."""

    # Set by the privacy purge on a deactivated account (docs/privacy.md): the row stays,
    # because rows kept for their own retention point at it, but it names nobody.
    anonymised_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("agent")
        verbose_name_plural = _("agents")


class Role(models.Model):
    ESTABLISHMENT_PATH = "establishment"

    class Name(models.TextChoices):
        NATIONAL_ADMIN = "national_admin", _("Administrateur national")
        DIRECTOR = "director", _("Directeur")
        SUPERVISOR = "supervisor", _("Officier / gradé")
        GUARD = "guard", _("Surveillant")
        BOOKING_OFFICER = "booking_officer", _("Agent de réservation")
        AUDITOR = "auditor", _("Auditeur")

    user = models.ForeignKey(StaffUser, on_delete=models.CASCADE, related_name="roles")
    # Empty only for national administrators, who act on every establishment.
    establishment = models.ForeignKey(
        Establishment, on_delete=models.CASCADE, null=True, blank=True, related_name="roles"
    )
    name = models.CharField(_("rôle"), max_length=20, choices=Name.choices)
    granted_at = models.DateTimeField(_("attribué le"), default=timezone.now)

    class Meta:
        verbose_name = _("rôle")
        verbose_name_plural = _("rôles")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "establishment", "name"], name="role_unique_per_establishment"
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(name="national_admin"),
                name="role_national_admin_once",
            ),
            models.CheckConstraint(
                condition=(Q(name="national_admin") & Q(establishment__isnull=True))
                | (~Q(name="national_admin") & Q(establishment__isnull=False)),
                name="role_establishment_iff_not_national",
                violation_error_message=_(
                    "Un administrateur national n'a pas d'établissement ; tout autre rôle en a un."
                ),
            ),
            models.CheckConstraint(
                condition=Q(
                    name__in=[
                        "national_admin",
                        "director",
                        "supervisor",
                        "guard",
                        "booking_officer",
                        "auditor",
                    ]
                ),
                name="role_name_valid",
            ),
        ]

    def __str__(self) -> str:
        where = self.establishment.name if self.establishment_id else _("national")
        return f"{self.user} – {self.get_name_display()} ({where})"


class Detainee(models.Model):
    ESTABLISHMENT_PATH = "establishment"

    class Status(models.TextChoices):
        PRESENT = "present", _("Présent")
        TRANSFERRED = "transferred", _("Transféré")
        RELEASED = "released", _("Libéré")

    establishment = models.ForeignKey(
        Establishment, on_delete=models.PROTECT, related_name="detainees"
    )
    quarter = models.ForeignKey(Quarter, on_delete=models.PROTECT, related_name="detainees")
    prison_number = models.CharField(_("numéro d'écrou"), max_length=20)
    last_name = models.CharField(_("nom"), max_length=100)
    first_name = models.CharField(_("prénom"), max_length=100)
    status = models.CharField(
        _("statut"), max_length=12, choices=Status.choices, default=Status.PRESENT
    )
    status_changed_at = models.DateTimeField(_("statut modifié le"), default=timezone.now)
    language = models.CharField(_("langue"), max_length=10, default="fr")
    # Set by the privacy purge: names and prison number are gone, the row stays for the
    # figures (privacy.purge).
    anonymised_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("personne détenue")
        verbose_name_plural = _("personnes détenues")
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["establishment", "prison_number"],
                name="detainee_prison_number_unique_per_establishment",
                violation_error_message=_("Ce numéro d'écrou existe déjà dans l'établissement."),
            ),
            models.CheckConstraint(
                condition=Q(status__in=["present", "transferred", "released"]),
                name="detainee_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.last_name.upper()} {self.first_name} ({self.prison_number})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.quarter_id and self.establishment_id:
            if self.quarter.establishment_id != self.establishment_id:
                raise ValidationError(
                    {"quarter": _("Ce quartier n'appartient pas à l'établissement choisi.")}
                )

    def active_suspension(self, at=None):
        at = at or timezone.now()
        return self.suspensions.filter(
            starts_at__lte=at, ends_at__gt=at, lifted_at__isnull=True
        ).first()


class PhoneAccount(models.Model):
    """The detainee's phone account; video calls need it active."""

    ESTABLISHMENT_PATH = "detainee__establishment"

    detainee = models.OneToOneField(Detainee, on_delete=models.CASCADE, related_name="account")
    active = models.BooleanField(_("actif"), default=True)
    pin_hash = models.CharField(max_length=128, editable=False)
    failed_pin_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("compte téléphonique")
        verbose_name_plural = _("comptes téléphoniques")

    def __str__(self) -> str:
        return str(self.detainee)

    def set_pin(self, pin: str) -> None:
        self.pin_hash = make_password(pin)

    def check_pin(self, pin: str) -> bool:
        return bool(self.pin_hash) and check_password(pin, self.pin_hash)

    def balance_cents(self) -> int:
        return self.ledger.aggregate(total=Sum("amount_cents"))["total"] or 0


class LedgerEntry(models.Model):
    """Append-only: a correction is a new entry, never an edit."""

    ESTABLISHMENT_PATH = "account__detainee__establishment"

    class Kind(models.TextChoices):
        CREDIT = "credit", _("Crédit")
        CALL_CHARGE = "call_charge", _("Appel")
        REFUND = "refund", _("Remboursement")
        ADJUSTMENT = "adjustment", _("Régularisation")

    account = models.ForeignKey(PhoneAccount, on_delete=models.PROTECT, related_name="ledger")
    amount_cents = models.IntegerField(_("montant (centimes)"))
    kind = models.CharField(_("nature"), max_length=12, choices=Kind.choices)
    label = models.CharField(_("libellé"), max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        StaffUser, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("écriture")
        verbose_name_plural = _("écritures")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_cents=0), name="ledger_amount_nonzero"),
            models.CheckConstraint(
                condition=(Q(kind="call_charge") & Q(amount_cents__lt=0))
                | (Q(kind__in=["credit", "refund"]) & Q(amount_cents__gt=0))
                | Q(kind="adjustment"),
                name="ledger_sign_matches_kind",
            ),
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only")


class AuthorizedContact(models.Model):
    """A relative's phone number, as authorized (or not) on one detainee's account."""

    ESTABLISHMENT_PATH = "detainee__establishment"

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Demandé")
        APPROVED = "approved", _("Autorisé")
        REFUSED = "refused", _("Refusé")
        REVOKED = "revoked", _("Révoqué")

    # Allowed moves; anything else is refused by the actions module.
    TRANSITIONS = {
        Status.REQUESTED: {Status.APPROVED, Status.REFUSED},
        Status.APPROVED: {Status.REVOKED},
        Status.REFUSED: set(),
        Status.REVOKED: set(),
    }

    class Relationship(models.TextChoices):
        SPOUSE = "spouse", _("Conjoint(e)")
        PARENT = "parent", _("Parent")
        CHILD = "child", _("Enfant")
        SIBLING = "sibling", _("Frère ou sœur")
        GRANDPARENT = "grandparent", _("Grand-parent")
        OTHER_FAMILY = "family", _("Autre membre de la famille")
        FRIEND = "friend", _("Ami(e)")
        LAWYER = "lawyer", _("Avocat(e)")
        # Authorized for a lawyer's calls only: the call stays unrecorded and unwatched.
        INTERPRETER = "interpreter", _("Interprète")
        OTHER = "other", _("Autre")

    detainee = models.ForeignKey(Detainee, on_delete=models.PROTECT, related_name="contacts")
    last_name = models.CharField(_("nom"), max_length=100)
    first_name = models.CharField(_("prénom"), max_length=100)
    phone_number = models.CharField(_("numéro (E.164)"), max_length=16)
    line_type = models.CharField(_("type de ligne"), max_length=10, choices=LineType.choices)
    relationship = models.CharField(_("lien"), max_length=12, choices=Relationship.choices)
    language = models.CharField(_("langue préférée"), max_length=10, default="fr")
    status = models.CharField(
        _("statut"), max_length=10, choices=Status.choices, default=Status.REQUESTED
    )
    requested_at = models.DateTimeField(_("demandé le"), default=timezone.now)
    # Set by the privacy purge: names and number are gone (privacy.purge).
    anonymised_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("contact autorisé")
        verbose_name_plural = _("contacts autorisés")
        ordering = ["detainee", "last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["detainee", "phone_number"],
                condition=Q(status__in=["requested", "approved"], anonymised_at__isnull=True),
                name="contact_number_once_per_detainee",
                violation_error_message=_(
                    "Ce numéro est déjà autorisé ou en demande pour cette personne détenue."
                ),
            ),
            models.CheckConstraint(
                condition=Q(phone_number__regex=r"^\+[1-9][0-9]{6,14}$")
                | Q(phone_number="", anonymised_at__isnull=False),
                name="contact_phone_e164",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["requested", "approved", "refused", "revoked"]),
                name="contact_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(line_type__in=["mobile", "landline", "ambiguous"]),
                name="contact_line_type_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.phone_number})"

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED


class ContactDecision(models.Model):
    """The transition log of a contact's authorization: who decided what, when and why."""

    ESTABLISHMENT_PATH = "contact__detainee__establishment"

    contact = models.ForeignKey(
        AuthorizedContact, on_delete=models.PROTECT, related_name="decisions"
    )
    from_status = models.CharField(max_length=10, choices=AuthorizedContact.Status.choices)
    to_status = models.CharField(max_length=10, choices=AuthorizedContact.Status.choices)
    decided_by = models.ForeignKey(StaffUser, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(_("motif"))

    class Meta:
        verbose_name = _("décision")
        verbose_name_plural = _("décisions")
        ordering = ["decided_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="contact_decision_reason_given"),
        ]


class Suspension(models.Model):
    """A period during which a detainee may not make video calls."""

    ESTABLISHMENT_PATH = "detainee__establishment"

    detainee = models.ForeignKey(Detainee, on_delete=models.PROTECT, related_name="suspensions")
    starts_at = models.DateTimeField(_("début"))
    ends_at = models.DateTimeField(_("fin"))
    reason = models.TextField(_("motif"))
    decided_by = models.ForeignKey(StaffUser, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now, editable=False)
    lifted_at = models.DateTimeField(_("levée le"), null=True, blank=True, editable=False)
    lifted_by = models.ForeignKey(
        StaffUser, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    lift_reason = models.TextField(_("motif de la levée"), blank=True, editable=False)

    class Meta:
        verbose_name = _("suspension")
        verbose_name_plural = _("suspensions")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="suspension_ends_after_start",
                violation_error_message=_("La fin de la suspension doit suivre son début."),
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="suspension_reason_given"),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True)
                | (~Q(lift_reason="") & Q(lifted_by__isnull=False)),
                name="suspension_lift_reasoned",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.detainee} : {self.starts_at:%d/%m/%Y %H:%M} → {self.ends_at:%d/%m/%Y %H:%M}"

    def is_active(self, at=None) -> bool:
        at = at or timezone.now()
        return self.lifted_at is None and self.starts_at <= at < self.ends_at
