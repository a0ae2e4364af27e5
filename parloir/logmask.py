"""Personal data out of the logs (docs/privacy.md, "Logs").

Logs serve operations: which call, which message, which node failed. A relative's phone
number or a call link serves nothing there, and a code would let a reader of the logs
join a call. parloir's own log lines name messages and calls by id; this filter, on every
handler of settings.LOGGING, is the net under them: whatever a library or an exception
puts in a line, a phone number comes out as ``+33 6 •• •• •• 78`` and a call link as
``/j/••••••``.
"""

from __future__ import annotations

import logging
import re

import phonenumbers

DOTS = "••"
# E.164 numbers, alone or as the user of a SIP or tel URI (with or without the "+").
_E164 = re.compile(r"(?<![\w+])\+[1-9]\d{6,14}(?!\d)")
_URI_USER = re.compile(r"(?P<scheme>sips?:|tel:)(?P<user>\+?\d{6,15})(?=[@;>\s]|$)")
# A call link: the token, and the code after "#".
_CALL_LINK = re.compile(r"/j/[^\s\"'<>]+")
# A code given by name, in a query string, a form or JSON.
_NAMED_CODE = re.compile(r"(?P<key>\bcode\b[\"']?\s*[:=]\s*[\"']?)\d{4,}", re.IGNORECASE)
# A code anywhere else (a message's text in an exception, in any language): a run of
# exactly calls.codes.CODE_DIGITS digits. Ids are shorter; a 10-digit timestamp masked
# too is a small price.
_BARE_CODE = re.compile(r"(?<!\d)(?<!\d\.)\d{10}(?!\d|\.\d)")


def mask_number(number: str) -> str:
    """``+33612345678`` as ``+33 6 •• •• •• 78``: the country and the kind of line stay
    (which helps an operator), the person does not."""
    digits = number.lstrip("+")
    try:
        parsed = phonenumbers.parse("+" + digits, None)
        national = str(parsed.national_number)
        return f"+{parsed.country_code} {national[0]} {DOTS} {DOTS} {DOTS} {national[-2:]}"
    except phonenumbers.NumberParseException:
        return f"+{DOTS} {DOTS} {DOTS} {digits[-2:]}"


def redact(text: str) -> str:
    text = _CALL_LINK.sub(f"/j/{DOTS * 3}", text)
    text = _NAMED_CODE.sub(lambda m: m.group("key") + DOTS * 3, text)
    text = _BARE_CODE.sub(DOTS * 3, text)
    text = _URI_USER.sub(
        lambda m: m.group("scheme") + mask_number(m.group("user")).replace(" ", ""), text
    )
    return _E164.sub(lambda m: mask_number(m.group(0)), text)


class RedactFilter(logging.Filter):
    """Rewrites each record's message (and its exception's text) with ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record still gets logged, as Django's
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def redact_daphne_access_log() -> None:
    """daphne writes its access log (on stdout, by default) straight to a stream, around
    the logging module: its paths hold call links (``/j/<token>``). Each entry's request
    line goes through ``redact`` too. Called from parloir.asgi, which daphne imports
    before it makes its access logger."""
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:  # served by something else: nothing to do
        return
    if getattr(AccessLogGenerator.write_entry, "redacted", False):
        return
    original = AccessLogGenerator.write_entry

    def write_entry(self, host, date, request, *args, **kwargs):
        return original(self, host, date, redact(request), *args, **kwargs)

    write_entry.redacted = True
    AccessLogGenerator.write_entry = write_entry
