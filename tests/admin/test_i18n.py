"""The administration speaks French by default and English on request."""

import re
from pathlib import Path

from django.conf import settings
from django.utils import translation

from people.models import AuthorizedContact
from tests.admin.helpers import add, admin_base

PO = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"


def test_it_speaks_french_by_default(world, as_user):
    page = as_user(world.a.staff["director"]).get("/admin/").content.decode()
    assert "Administration de parloir" in page
    assert "Personnes détenues" in page
    assert "Contacts autorisés" in page


def test_it_switches_to_english(world, as_user):
    client = as_user(world.a.staff["supervisor"])
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert response.status_code == 302

    index = client.get("/admin/").content.decode()
    assert "parloir administration" in index
    assert "Detainees" in index and "Authorized contacts" in index
    assert "Personnes détenues" not in index

    contacts = client.get(admin_base(AuthorizedContact)).content.decode()
    assert "Approve the selected contacts" in contacts
    assert "Requested" in contacts  # the status filter

    page = client.get(admin_base(AuthorizedContact) + "add/").content.decode()
    assert "Phone number" in page
    response = add(
        client,
        AuthorizedContact,
        detainee=str(world.a.detainee.pk),
        last_name="Smith",
        first_name="Jo",
        phone="08 99 12 34 56",
        relationship="friend",
    )
    assert response.context["adminform"].form.errors["phone"] == [
        "Premium-rate numbers cannot be authorized."
    ]


def read_po(path: Path) -> list[tuple[str, list[str], bool]]:
    """(msgid, msgstrs, fuzzy) for every entry but the header."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in block.splitlines())
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            match = re.match(r'^(msg\w+(?:\[\d\])?) (".*")$', line)
            if match:
                key = match.group(1)
                fields[key] = ""
                line = match.group(2)
            fields[key] += line[1:-1].encode().decode("unicode_escape").encode("latin-1").decode()
        if fields.get("msgid"):
            strs = [v for k, v in fields.items() if k.startswith("msgstr")]
            entries.append((fields["msgid"], strs, fuzzy))
    return entries


def test_it_translates_every_catalogued_string_and_ships_it_compiled():
    entries = read_po(PO)
    assert len(entries) > 200
    untranslated = [msgid for msgid, strs, fuzzy in entries if fuzzy or not all(strs)]
    assert untranslated == []
    # The compiled catalog matches the source: every msgid resolves to its msgstr.
    with translation.override("en"):
        for msgid, strs, _fuzzy in entries:
            if len(strs) == 1:
                assert translation.gettext(msgid) == strs[0], msgid


def test_it_names_every_field_in_french(world, as_user):
    """Fields the models leave to their English names get French ones on every page."""
    from django.contrib import admin
    from django.utils.text import capfirst

    from tests.admin.helpers import admin_base

    client = as_user(world.national)
    for model, _model_admin in admin.site._registry.items():
        english = {
            capfirst(f.name.replace("_", " "))
            for f in model._meta.get_fields()
            if f.concrete and f.verbose_name == f.name.replace("_", " ")
        } - {"Code", "Message", "Suspension", "Action", "Password", "Username", "Email"}
        obj = world.a.objects()[model]
        base = admin_base(model)
        for url in (base, base + "add/", f"{base}{obj.pk}/change/"):
            page = client.get(url).content.decode()
            for label in english:
                assert not re.search(rf">\s*{label}\s*(:|<)", page), (url, label)
                assert f"Par {label.lower()}<" not in page, (url, label)  # filter titles
