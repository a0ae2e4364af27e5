from django.contrib import admin
from django.db.models.constants import LOOKUP_SEP
from django.utils.translation import gettext_lazy as _

from notify import redact
from notify.models import Message
from parloir.access import Can
from parloir.admin import ScopedModelAdmin

# A call-code message's text and digits name a live code: staff never read, search or
# filter them (a filter such as ?spoken_digits__startswith=1 would find the code by trying).
SECRET_FIELDS = frozenset({"text", "spoken_digits"})


@admin.register(Message)
class MessageAdmin(ScopedModelAdmin):
    """Read-only: messages are queued by notify.actions and updated by the delivery."""

    view_capability = Can.READ_MESSAGES
    labels = {
        "provider_ref": _("référence de la passerelle"),
        "attempts": _("tentatives"),
        "error": _("erreur"),
        "created_at": _("créé le"),
        "sent_at": _("envoyé le"),
        "delivered_at": _("remis le"),
        "failed_at": _("en échec le"),
    }
    list_display = ("created_at", "establishment", "to_number", "channel", "purpose", "status")
    list_filter = ("status", "channel", "purpose", "establishment")
    search_fields = ("to_number", "provider_ref")
    date_hierarchy = "created_at"
    fields = (
        "establishment",
        "contact",
        "to_number",
        "channel",
        "language",
        "purpose",
        "shown_text",
        "status",
        "backend",
        "provider_ref",
        "attempts",
        "error",
        "created_at",
        "sent_at",
        "delivered_at",
        "failed_at",
    )
    readonly_fields = fields

    @admin.display(description=_("texte"))
    def shown_text(self, obj):
        return redact.shown_text(obj)

    def lookup_allowed(self, lookup, value, request=None):
        if lookup.split(LOOKUP_SEP)[0] in SECRET_FIELDS:
            return False
        return super().lookup_allowed(lookup, value, request)
