"""/favicon.ico: browsers ask for it on every site, whatever the page links to."""

import functools

from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

ICON = "icons/favicon.ico"


@functools.cache
def _icon() -> bytes:
    # Drawn by scripts/make_icons.py with the portal's other icons.
    path = finders.find(ICON)
    if path is None:
        raise Http404
    with open(path, "rb") as handle:
        return handle.read()


@require_GET
def favicon(request):
    response = HttpResponse(_icon(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
