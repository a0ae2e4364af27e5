"""The reason staff must give for a decision that the audit log keeps (a revocation, a
cancellation). Shared by the apps of every layer, so it lives below all of them."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Un motif est obligatoire."), code="reason")
    return reason
