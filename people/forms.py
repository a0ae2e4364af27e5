"""Admin forms for people. They validate with the same functions the actions use.

The actions in people.actions validate again under lock; checking here first puts the
error on the form, next to the field, instead of refusing the save afterwards.
"""

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import BLANK_CHOICE_DASH
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from establishments.models import Establishment
from parloir import access
from parloir.access import Can
from people.actions import validate_pin
from people.models import (
    AuthorizedContact,
    LedgerEntry,
    PhoneAccount,
    Role,
    StaffUser,
    Suspension,
)
from people.phones import parse_phone


def role_choices(actor, *, blank: bool = False) -> list[tuple[str, str]]:
    """The roles ``actor`` may grant: national administration only by national administrators."""
    choices = list(Role.Name.choices)
    if not access.is_national(actor, Can.MANAGE_STAFF):
        choices = [c for c in choices if c[0] != Role.Name.NATIONAL_ADMIN]
    return BLANK_CHOICE_DASH + choices if blank else choices


class PinField(forms.CharField):
    # "new-password" keeps browsers from filling in the staff member's own saved password.
    widget = forms.PasswordInput(
        render_value=False, attrs={"autocomplete": "new-password", "inputmode": "numeric"}
    )
    default_validators = [validate_pin]

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Code PIN"))
        kwargs.setdefault("help_text", _("De 4 à 8 chiffres."))
        kwargs.setdefault("max_length", 8)
        super().__init__(**kwargs)


class PhoneAccountOpenForm(forms.ModelForm):
    pin = PinField()

    class Meta:
        model = PhoneAccount
        fields = ("detainee",)


class PhoneAccountChangeForm(forms.ModelForm):
    new_pin = PinField(
        label=_("Nouveau code PIN"),
        required=False,
        help_text=_("Laisser vide pour garder le code actuel. De 4 à 8 chiffres."),
    )

    class Meta:
        model = PhoneAccount
        fields = ("active",)


class LedgerEntryForm(forms.ModelForm):
    class Meta:
        model = LedgerEntry
        fields = ("amount_cents", "kind", "label")

    def clean(self):
        cleaned = super().clean()
        amount, kind = cleaned.get("amount_cents"), cleaned.get("kind")
        if amount is None or not kind:
            return cleaned
        # The same rules as the table's constraints, with messages a clerk can act on.
        Kind = LedgerEntry.Kind
        if amount == 0:
            self.add_error("amount_cents", _("Le montant ne peut pas être nul."))
        elif kind == Kind.CALL_CHARGE and amount > 0:
            self.add_error("amount_cents", _("Un appel se débite : le montant doit être négatif."))
        elif kind in (Kind.CREDIT, Kind.REFUND) and amount < 0:
            self.add_error(
                "amount_cents",
                _("Un crédit ou un remboursement doit avoir un montant positif."),
            )
        return cleaned


class ContactRequestForm(forms.ModelForm):
    phone = forms.CharField(
        label=_("Numéro de téléphone"),
        max_length=40,
        help_text=_("Un numéro français (06 12 34 56 78) ou international (+32 470 12 34 56)."),
    )

    class Meta:
        model = AuthorizedContact
        fields = ("detainee", "last_name", "first_name", "phone", "relationship", "language")

    def clean_phone(self):
        self.parsed_phone = parse_phone(self.cleaned_data["phone"])
        return self.cleaned_data["phone"]

    def clean(self):
        cleaned = super().clean()
        detainee, parsed = cleaned.get("detainee"), getattr(self, "parsed_phone", None)
        if detainee is not None and parsed is not None:
            taken = AuthorizedContact.objects.filter(
                detainee=detainee,
                phone_number=parsed.e164,
                status__in=[AuthorizedContact.Status.REQUESTED, AuthorizedContact.Status.APPROVED],
            )
            if taken.exists():
                self.add_error(
                    "phone",
                    ValidationError(
                        _("Ce numéro est déjà autorisé ou en demande pour cette personne détenue."),
                        code="duplicate",
                    ),
                )
        return cleaned


class SuspensionForm(forms.ModelForm):
    class Meta:
        model = Suspension
        fields = ("detainee", "starts_at", "ends_at", "reason")

    def clean(self):
        cleaned = super().clean()
        detainee = cleaned.get("detainee")
        if detainee is not None:
            # The times typed are the establishment's wall clock (Réunion, Guyane…), not
            # the server's: read them again in its zone, as the console does.
            for name in ("starts_at", "ends_at"):
                if cleaned.get(name):
                    typed = timezone.make_naive(cleaned[name])
                    cleaned[name] = timezone.make_aware(typed, detainee.establishment.zone)
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error(
                "ends_at",
                ValidationError(
                    _("La fin de la suspension doit suivre son début."), code="suspension_order"
                ),
            )
        return cleaned


class StaffCreationForm(AdminUserCreationForm):
    """A new staff account always comes with its first role, so it is in someone's scope.

    ``actor`` (the signed-in user) is set by the admin on the form class it builds per request.
    """

    actor = None

    role = forms.ChoiceField(label=_("Rôle"), choices=Role.Name.choices)
    establishment = forms.ModelChoiceField(
        label=_("Établissement"),
        queryset=Establishment.objects.none(),
        required=False,
        help_text=_("Vide seulement pour un administrateur national."),
    )

    class Meta(AdminUserCreationForm.Meta):
        model = StaffUser
        fields = ("username",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(self.actor, blank=True)
        self.fields["establishment"].queryset = access.establishments(self.actor, Can.MANAGE_STAFF)

    def clean(self):
        cleaned = super().clean()
        if "role" in cleaned and "establishment" in cleaned:
            # The role's own rules (an establishment unless national), without its user yet.
            role = Role(name=cleaned["role"], establishment=cleaned["establishment"])
            try:
                role.validate_constraints(exclude={"user"})
            except ValidationError as error:
                self.add_error("establishment", error.messages)
        return cleaned


class StaffChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = StaffUser
