"""The right of access: a director (or a national administrator) makes the package of
everything held about one relative or one detainee, within their establishments."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from parloir import access
from privacy import package
from www.console.decorators import staff_required

KINDS = ("relative", "detainee")


@never_cache
@staff_required(access.Can.EXPORT_PERSONAL_DATA)
def access_export(request):
    kind = request.POST.get("kind", "relative")
    identifier = request.POST.get("identifier", "").strip()
    if request.method == "POST":
        if kind not in KINDS or not identifier:
            messages.error(request, _("Indiquez un numéro de téléphone ou un numéro d'écrou."))
        else:
            scope = access.establishment_ids(request.user, access.Can.EXPORT_PERSONAL_DATA)
            made = package.export(kind, identifier, establishment_ids=scope, actor=request.user)
            if not made.rows:
                messages.warning(request, _("Aucune donnée pour ce numéro."))
            else:
                stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
                response = HttpResponse(made.zip_bytes(), content_type="application/zip")
                response["Content-Disposition"] = f'attachment; filename="acces-{kind}-{stamp}.zip"'
                return response
    return render(
        request,
        "console/privacy/access.html",
        {"kind": kind, "identifier": identifier},
    )
