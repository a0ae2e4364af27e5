"""Content-Security-Policy on every response: scripts, styles, frames and connections only
from this site.

No page has inline script: a template that cannot avoid one gives its <script> the
request's nonce (``nonce="{{ request.csp_nonce }}"``); the nonce is drawn per response.
The policy is the same for every page, so tests/security/test_csp_pages.py can load each
one in Chromium and fail on any violation.
"""

import secrets

from django.utils.functional import SimpleLazyObject


def policy(nonce: str) -> str:
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' 'nonce-{nonce}'",
        "style-src": "'self'",
        # Camera previews and the recordings player read from blob: URLs.
        "img-src": "'self' data: blob:",
        "media-src": "'self' blob:",
        # 'self' covers the page's own ws:/wss: origin (CSP Level 3).
        "connect-src": "'self'",
        "font-src": "'self'",
        "worker-src": "'self'",
        "manifest-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class ContentSecurityPolicy:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        drawn: list[str] = []

        def nonce() -> str:
            if not drawn:
                drawn.append(secrets.token_urlsafe(18))
            return drawn[0]

        request.csp_nonce = SimpleLazyObject(nonce)
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", policy(nonce()))
        return response
