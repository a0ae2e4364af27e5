"""The register (docs/privacy.md), the retention settings and the relatives' charter say
the same thing: a change to one without the others fails here."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db.models import CheckConstraint
from django.utils import translation

from establishments.models import Establishment
from privacy.register import CHARTER
from tests.factories import EstablishmentFactory

REGISTER = (Path(settings.BASE_DIR) / "docs" / "privacy.md").read_text()
SETTINGS = [
    f.name for f in Establishment._meta.concrete_fields if f.name.endswith("_retention_days")
]


def _bounds(name: str) -> tuple[int, int]:
    for constraint in Establishment._meta.constraints:
        if isinstance(constraint, CheckConstraint):
            children = dict(constraint.condition.children)
            if f"{name}__gte" in children:
                return children[f"{name}__gte"], children[f"{name}__lte"]
    raise AssertionError(f"no bounds for {name}")


def _section(title: str) -> str:
    return REGISTER.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_registers_retention_table_is_the_code():
    table = _section("Retention: the settings and their bounds")
    rows = {
        m.group(1): (int(m.group(2)), (int(m.group(3)), int(m.group(4))))
        for m in re.finditer(r"^\| `(\w+)` \| (\d+) \| (\d+)–(\d+) \|", table, re.M)
    }
    code = {name: (Establishment._meta.get_field(name).default, _bounds(name)) for name in SETTINGS}
    assert rows == code
    audit = re.search(r"`PARLOIR_AUDIT_RETENTION_DAYS` \((\d+), (\d+)–(\d+)", table)
    assert (int(audit.group(1)), (int(audit.group(2)), int(audit.group(3)))) == (
        365,
        settings.AUDIT_RETENTION_BOUNDS,
    )


def test_the_charter_is_the_registers_rows_about_relatives():
    categories = _section("The categories")
    for entry in CHARTER:
        row = re.search(rf"^\| \*\*{re.escape(entry.register_row)}\*\* \|.*$", categories, re.M)
        assert row, entry.register_row
        named = "PARLOIR_" + entry.setting if entry.setting.isupper() else entry.setting
        assert f"`{named}`" in row.group(0) or f"**`{named}`**" in row.group(0), entry
    # Every retention that concerns a relative is in the charter; a detainee's is not.
    charter = {entry.setting for entry in CHARTER}
    assert charter == (set(SETTINGS) - {"detainee_retention_days"}) | {"AUDIT_RETENTION_DAYS"}


@pytest.mark.django_db
@pytest.mark.parametrize("language", [code for code, _name in settings.LANGUAGES])
def test_the_charter_shows_the_establishments_own_values_in_every_language(client, language):
    establishment = EstablishmentFactory(
        contact_retention_days=201,
        call_data_retention_days=402,
        recording_retention_days=63,
        message_retention_days=45,
    )
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    page = client.get(f"/confidentialite/{establishment.code}").content.decode()

    for days in (201, 402, 63, 45, settings.AUDIT_RETENTION_DAYS):
        assert f"{days}" in page
    assert establishment.contact_phone in page
    with translation.override(language):
        for entry in CHARTER:
            assert str(entry.what) in page.replace("&#x27;", "'")
    if language != "fr":
        assert "Vos droits" not in page and "Durée de conservation" not in page


@pytest.mark.django_db
def test_without_an_establishment_the_charter_gives_the_defaults(client):
    page = client.get("/confidentialite").content.decode()
    assert "365" in page and "90" in page
