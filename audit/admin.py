import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEvent
from parloir.access import Can
from parloir.admin import ScopedModelAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedModelAdmin):
    """Read-only: the log is append-only and written only by audit.log.record()."""

    view_capability = Can.READ_AUDIT
    labels = {
        "seq": _("n°"),
        "at": _("date"),
        "actor": _("auteur"),
        "actor_label": _("auteur (tel qu'inscrit)"),
        "action": _("action"),
        "target_type": _("type de cible"),
        "target_id": _("identifiant de la cible"),
        "prev_hash": _("empreinte précédente"),
        "hash": _("empreinte"),
    }
    list_display = ("seq", "at", "actor_label", "establishment", "action", "target")
    list_filter = ("action", "target_type", "establishment")
    search_fields = ("action", "actor_label", "target_type", "target_id")
    date_hierarchy = "at"
    fields = (
        "seq",
        "at",
        "actor",
        "actor_label",
        "establishment",
        "action",
        "target_type",
        "target_id",
        "pretty_data",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields

    @admin.display(description=_("cible"))
    def target(self, obj):
        return f"{obj.target_type} #{obj.target_id}" if obj.target_type else ""

    @admin.display(description=_("données"))
    def pretty_data(self, obj):
        text = json.dumps(obj.data, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html("<pre>{}</pre>", text)
