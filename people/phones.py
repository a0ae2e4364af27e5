"""Phone numbers: parsed, validated and typed with libphonenumber."""

from dataclasses import dataclass

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from phonenumbers import PhoneNumberType


class LineType(models.TextChoices):
    MOBILE = "mobile", _("Mobile")
    LANDLINE = "landline", _("Fixe")
    # libphonenumber cannot tell for some countries (e.g. the US): notify sends an SMS
    # and falls back to a voice call.
    AMBIGUOUS = "ambiguous", _("Mobile ou fixe")


_LINE_TYPES = {
    PhoneNumberType.MOBILE: LineType.MOBILE,
    PhoneNumberType.FIXED_LINE: LineType.LANDLINE,
    # French 09 numbers are VoIP boxes that ring like a landline.
    PhoneNumberType.VOIP: LineType.LANDLINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: LineType.AMBIGUOUS,
}

_REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: _("Les numéros surtaxés ne peuvent pas être autorisés."),
    PhoneNumberType.SHARED_COST: _("Les numéros à coût partagé ne peuvent pas être autorisés."),
    PhoneNumberType.TOLL_FREE: _("Les numéros verts ne peuvent pas être autorisés."),
    PhoneNumberType.PAGER: _("Les numéros de radiomessagerie ne peuvent pas être autorisés."),
    PhoneNumberType.UAN: _("Les numéros d'entreprise ne peuvent pas être autorisés."),
    PhoneNumberType.VOICEMAIL: _("Les numéros de messagerie vocale ne peuvent pas être autorisés."),
    PhoneNumberType.PERSONAL_NUMBER: _(
        "Les numéros personnels universels ne peuvent pas être autorisés."
    ),
}


@dataclass(frozen=True)
class Phone:
    e164: str
    line_type: str


def parse_phone(raw: str, default_region: str = "FR") -> Phone:
    """Validate a number typed by staff and return it in E.164 with its line type.

    Raises ValidationError with a message a clerk can act on.
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Saisissez un numéro de téléphone."), code="required")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            _("« %(raw)s » n'est pas un numéro de téléphone."), code="invalid", params={"raw": text}
        ) from None
    if phonenumbers.is_valid_short_number(number) and not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Les numéros courts ne peuvent pas être autorisés."), code="short")
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("« %(raw)s » n'est pas un numéro valide."), code="invalid", params={"raw": text}
        )
    number_type = phonenumbers.number_type(number)
    if number_type in _REFUSED_TYPES:
        raise ValidationError(_REFUSED_TYPES[number_type], code="refused_type")
    line_type = _LINE_TYPES.get(number_type)
    if line_type is None:
        raise ValidationError(
            _("Ce numéro ne peut recevoir ni SMS ni appel vocal."), code="unreachable"
        )
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        line_type=line_type,
    )


def format_for_display(e164: str) -> str:
    number = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
