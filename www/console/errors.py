"""The console's own refusal page: which roles may do what was refused, and one's own.

Django's bare "403 Forbidden" told staff nothing; every refusal on a console page
(access.Forbidden, raised by staff_required and access.require) now says which roles
give the right, so that a guard knows to ask an officer to replay a recording.
"""

from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views import defaults

from parloir import access
from people.models import Role

Can = access.Can

# What each capability lets staff do, as the refusal page says it.
WHAT = {
    Can.VIEW: _("consulter la console"),
    Can.MANAGE_ESTABLISHMENT: _(
        "gérer l'établissement (suspension d'effacement, export judiciaire)"
    ),
    Can.MANAGE_STAFF: _("gérer les comptes du personnel"),
    Can.MANAGE_DETAINEES: _("gérer les personnes détenues"),
    Can.DECIDE_CONTACTS: _("décider des contacts autorisés"),
    Can.SUSPEND: _("suspendre l'accès aux appels"),
    Can.BOOK: _("gérer les réservations"),
    Can.CONTROL_CALL: _("avertir et interrompre les appels"),
    Can.WATCH: _("regarder les appels en direct"),
    Can.REPLAY: _("réécouter les enregistrements"),
    Can.READ_AUDIT: _("lire le journal d'audit"),
    Can.READ_MESSAGES: _("lire les messages envoyés aux proches"),
    Can.MANAGE_MEDIA: _("gérer les serveurs vidéo"),
    Can.READ_STATISTICS: _("consulter les statistiques"),
    Can.EXPORT_PERSONAL_DATA: _("exporter les données d'une personne (droit d'accès)"),
}


def forbidden(request, exception=None):
    """handler403: the console's page on the console's paths, Django's elsewhere."""
    if not request.path.startswith("/console/"):
        return defaults.permission_denied(request, exception)
    capabilities = getattr(exception, "capabilities", ())
    held = Role.objects.filter(user_id=request.user.pk).select_related("establishment")
    return render(
        request,
        "console/forbidden.html",
        {
            "what": [WHAT[c] for c in capabilities if c in WHAT],
            "roles": [Role.Name(role).label for role in access.roles_with(*capabilities)],
            "own_roles": held if request.user.is_authenticated else [],
        },
        status=403,
    )
