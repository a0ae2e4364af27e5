"""What relatives and detainees read, straight from the sources, and the catalogues for it.

The portal, the kiosk, the call screen and the messages to relatives are translated into
every language of settings.LANGUAGES; the staff's admin and console only into English
(docs/i18n.md). The texts are found the way makemessages finds them (Django's templatize,
then xgettext), but from the sources below FACING_PATHS only, plus the labels of the
choices those pages and messages show: a string added there fails the tests until every
catalogue translates it, whether or not makemessages was run.
"""

import functools
import re
import subprocess
import tempfile
from pathlib import Path

import polib
from django.conf import settings
from django.utils.translation.template import templatize

BASE = Path(settings.BASE_DIR)
# The project's catalogue first, then the apps that keep their own (makemessages writes an
# app's texts into the app's locale/ when it has one).
CATALOG_ROOTS = [BASE / "locale", BASE / "bookings" / "locale", BASE / "notify" / "locale"]

FACING_PATHS = (
    "templates/base.html",
    "templates/400.html",  # an impossible parameter, shown to anyone
    "templates/_call_stage.html",
    "templates/portal/",
    "templates/kiosk/",
    "www/portal/",
    "www/kiosk/",
    "calls/actions.py",  # kiosk refusals and the code SMS
    "calls/events.py",  # end-of-call labels
    "bookings/actions.py",  # booking messages, refusals shown at the kiosk
    "bookings/contacts.py",  # refusals of the contacts a booking names, shown at the kiosk
    "notify/speech.py",  # what the voice call says
    "privacy/register.py",  # the relatives' privacy charter
)

# makemessages' keywords for Python (django/core/management/commands/makemessages.py).
XGETTEXT = [
    "xgettext",
    "--language=Python",
    "--from-code=UTF-8",
    "--keyword=gettext_noop",
    "--keyword=gettext_lazy",
    "--keyword=ngettext_lazy:1,2",
    "--keyword=pgettext:1c,2",
    "--keyword=npgettext:1c,2,3",
    "--keyword=pgettext_lazy:1c,2",
    "--keyword=npgettext_lazy:1c,2,3",
    "--output=-",
]


def facing_files() -> list[Path]:
    files = []
    for prefix in FACING_PATHS:
        path = BASE / prefix
        if path.is_file():
            files.append(path)
        else:
            files += sorted(p for p in path.rglob("*") if p.suffix in (".html", ".py"))
    return [path for path in files if "tests" not in path.relative_to(BASE).parts]


def facing_labels() -> set[str]:
    """The source (French) texts of the choice labels shown to relatives and detainees."""
    from bookings.models import Booking
    from calls.models import Call, CallWarning
    from notify.models import Message
    from people.models import AuthorizedContact

    choices = [
        Call.State,  # the kiosk and the call screen
        Call.EndReason,  # the end of a call, on both sides
        Call.InterruptCategory,  # said with an interruption
        CallWarning.Preset,  # staff's warnings, read by each side in its language
        AuthorizedContact.Relationship,  # the detainee's contacts at the kiosk
        Booking.Status,  # the detainee's bookings at the kiosk
        Message.Status,  # the code's message at the kiosk
        Message.Channel,
    ]
    return {label._args[0] for choice in choices for _value, label in choice.choices}


@functools.cache
def facing_msgids() -> frozenset[str]:
    """Every text of FACING_PATHS, as its msgid, and the facing choice labels."""
    with tempfile.TemporaryDirectory() as tmp:
        sources = []
        for index, path in enumerate(facing_files()):
            if path.suffix == ".html":
                target = Path(tmp) / f"{index}.py"
                text = path.read_text(encoding="utf-8")
                target.write_text(templatize(text, origin=str(path)), encoding="utf-8")
                sources.append(str(target))
            else:
                sources.append(str(path))
        pot = subprocess.run([*XGETTEXT, *sources], capture_output=True, check=True, text=True)
    extracted = {entry.msgid for entry in polib.pofile(pot.stdout) if entry.msgid}
    return frozenset(extracted | facing_labels())


def languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def catalogs(language: str) -> list[Path]:
    return [
        path
        for root in CATALOG_ROOTS
        if (path := root / language / "LC_MESSAGES" / "django.po").exists()
    ]


def entries(language: str) -> dict[str, list[polib.POEntry]]:
    """Each msgid of the language's catalogues, with its entries (one per catalogue)."""
    found: dict[str, list[polib.POEntry]] = {}
    for path in catalogs(language):
        for entry in polib.pofile(str(path)):
            if not entry.obsolete:
                found.setdefault(entry.msgid, []).append(entry)
    return found


def translations(entry: polib.POEntry) -> list[str]:
    """An entry's translated texts: its msgstr, or each plural form (all or none)."""
    if entry.msgid_plural:
        forms = [entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural)]
        return forms if forms and all(forms) else []
    return [entry.msgstr] if entry.msgstr else []


def plural_forms(language: str) -> int:
    """How many plural forms the language's project catalogue declares (nplurals)."""
    header = polib.pofile(str(catalogs(language)[0])).metadata.get("Plural-Forms", "")
    found = re.search(r"nplurals\s*=\s*(\d+)", header)
    return int(found.group(1)) if found else 2


PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")


def placeholders(text: str) -> list[str]:
    """Python-format fields (blocktranslate's {{ var }} also become %(var)s in a catalogue)."""
    return sorted(PLACEHOLDER.findall(text))
