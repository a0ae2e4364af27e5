"""The language of a WebSocket client, chosen as Django's LocaleMiddleware does for pages."""

from django.conf import settings
from django.utils.translation import get_supported_language_variant
from django.utils.translation.trans_real import parse_accept_lang_header


def language_of(scope: dict) -> str:
    """The language the client's pages are shown in: the language menu's cookie, else
    the browser's preferences, else French."""
    candidates = [scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME) or ""]
    for name, value in scope.get("headers", []):
        if name == b"accept-language":
            header = value.decode("latin-1")
            candidates += [code for code, _ in parse_accept_lang_header(header)]
    for candidate in candidates:
        if not candidate or candidate == "*":
            continue
        try:
            return get_supported_language_variant(candidate)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE
