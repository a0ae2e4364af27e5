"""The portal as an installable app: the manifest, the service worker and its offline page.

The app is the site itself (same URLs, start at "/"): installing it only adds an icon
and keeps the shell for a poor connection. The service worker is served from the root
so that its scope covers the portal's pages; see templates/portal/sw.js for what it
keeps (nothing personal).
"""

import hashlib
import json

from django.contrib.staticfiles import finders
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import get_template
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import get_language, get_language_bidi
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

THEME_COLOR = "#000091"
BACKGROUND_COLOR = "#ffffff"

# What the portal's pages load: kept by the service worker, served from its cache.
SHELL_STATIC = [
    "css/parloir.css",
    "js/pwa.js",
    "js/protocol.js",
    "js/call-ui.js",
    "js/check.js",
    "js/code.js",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/maskable-192.png",
    "icons/maskable-512.png",
    "icons/apple-touch-icon.png",
]

# Pages of other audiences on the same origin, which the service worker leaves alone.
NOT_OURS = ["/kiosk/", "/console/", "/admin/", "/b/", "/notify/", "/i18n/", "/ws/", "/healthz"]


@require_GET
def manifest(request):
    icons = [
        {
            "src": static(f"icons/{name}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": purpose,
        }
        for name, size, purpose in [
            ("icon-192", 192, "any"),
            ("icon-512", 512, "any"),
            ("maskable-192", 192, "maskable"),
            ("maskable-512", 512, "maskable"),
        ]
    ]
    data = {
        "id": "/",
        "name": "parloir",
        "short_name": "parloir",
        "description": _("Appel vidéo avec votre proche détenu"),
        "lang": get_language(),
        "dir": "rtl" if get_language_bidi() else "ltr",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": icons,
    }
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    return response


def _version(template_source: str) -> str:
    """Changes whenever a shell file or the worker changes, so browsers fetch them again."""
    digest = hashlib.sha256(template_source.encode())
    for path in SHELL_STATIC:
        found = finders.find(path)
        if found:
            with open(found, "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()[:16]


@require_GET
def service_worker(request):
    template = get_template("portal/sw.js")
    context = {
        "version": _version(template.template.source),
        "offline_url_json": json.dumps(reverse("portal:offline")),
        "shell_json": json.dumps([static(path) for path in SHELL_STATIC]),
        "not_ours_json": json.dumps(NOT_OURS),
    }
    response = HttpResponse(
        template.render(context, request), content_type="application/javascript"
    )
    # Browsers look for a new worker at each visit; never let a proxy hold an old one.
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def offline(request):
    """Shown by the service worker when the network is gone: generic, so it can be kept."""
    response = render(request, "portal/offline.html")
    response["Cache-Control"] = "no-cache"
    return response
