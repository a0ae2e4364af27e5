"""Reading dates, numbers and ids from URLs, query strings and forms.

An impossible value ("2024-13-45", an id past the database's integers) is the sender's
mistake: it gets a 400 that says what was wrong, never a 500. Views raise BadParameter
(a BadRequest) through these helpers; parloir.urls's handler400 shows its message.
"""

from datetime import date, datetime

from django.core.exceptions import BadRequest
from django.urls import register_converter
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

# Primary keys are 64-bit signed integers on every database we run on.
MAX_ID = 2**63 - 1


class BadParameter(BadRequest):
    """A value that cannot be what the parameter names; its message is shown as is."""


class IdConverter:
    """<id:pk> in URLs: digits that fit a primary key; anything longer is a 404."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))


register_converter(IdConverter, "id")


def an_id(value) -> int | None:
    """A primary key from a query string or form, or None when it cannot be one."""
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def a_date(value: str | None, name: str) -> date | None:
    """An ISO date (YYYY-MM-DD), None when empty; BadParameter when impossible."""
    if not value:
        return None
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        raise BadParameter(
            _("%(name)s : « %(value)s » n'est pas une date (AAAA-MM-JJ).")
            % {"name": name, "value": value[:40]}
        )
    return day


def a_datetime(value: str | None) -> datetime | None:
    """An ISO date and time, None when empty or impossible (for forms that say so)."""
    if not value:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


class RejectNulBytes:
    """A NUL byte in a parameter is never text anybody typed, and PostgreSQL refuses to
    store or compare it: a 400 here, rather than a 500 wherever the value meets a query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sources = [request.GET] + ([request.POST] if request.method == "POST" else [])
        for values in sources:
            for key, items in values.lists():
                if "\x00" in key or any("\x00" in item for item in items):
                    raise BadParameter(
                        _("%(name)s : caractère nul refusé.") % {"name": key[:40].strip("\x00")}
                    )
        return self.get_response(request)
