"""What the relatives' privacy charter says, from the register (docs/privacy.md).

Each entry is one row of the register's table that concerns a relative, in plain words,
with the retention it states: an Establishment setting (the establishment's own value is
shown), or a fixed number of days. privacy/tests/test_register.py keeps this, the
register and the settings equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from establishments.models import Establishment


@dataclass(frozen=True)
class Entry:
    register_row: str  # the category's name in docs/privacy.md's table
    what: str
    why: str
    kept: str  # with %(days)s
    setting: str  # an Establishment field, or a settings name in capitals

    def days(self, establishment: Establishment | None) -> int:
        if self.setting.isupper():
            return getattr(settings, self.setting)
        if establishment is not None:
            return getattr(establishment, self.setting)
        return Establishment._meta.get_field(self.setting).default


CHARTER = (
    Entry(
        "Relatives (contacts)",
        _("Votre nom et votre numéro de téléphone"),
        _("Pour que seul un numéro autorisé reçoive les appels."),
        _("Tant que votre numéro est autorisé, puis %(days)s jours après un refus ou un retrait."),
        "contact_retention_days",
    ),
    Entry(
        "Calls",
        _("Vos appels : date, durée, vos acceptations (adresse internet et navigateur)"),
        _("Pour la sécurité de l'établissement et en cas de contestation."),
        _("%(days)s jours après l'appel ; ensuite, seuls des chiffres sans nom ni numéro."),
        "call_data_retention_days",
    ),
    Entry(
        "Recordings",
        _("L'enregistrement de l'appel (image et son)"),
        _("Pour la sécurité de l'établissement ; il peut être transmis à la justice."),
        _("%(days)s jours, sauf s'il est transmis à l'autorité judiciaire."),
        "recording_retention_days",
    ),
    Entry(
        "Messages",
        _("Les SMS et appels vocaux qui vous sont envoyés"),
        _("Pour vous donner le code et vous prévenir des réservations."),
        _("Le code est effacé une heure après son expiration ; le reste, %(days)s jours."),
        "message_retention_days",
    ),
    Entry(
        "Audit",
        _("Ce que le personnel a fait lors de vos appels (journal d'audit)"),
        _("Pour contrôler qui a vu ou fait quoi."),
        _("%(days)s jours."),
        "AUDIT_RETENTION_DAYS",
    ),
)


def charter(establishment: Establishment | None) -> list[dict]:
    return [
        {
            "what": entry.what,
            "why": entry.why,
            "kept": entry.kept % {"days": entry.days(establishment)},
        }
        for entry in CHARTER
    ]
