"""Every text a relative or a detainee reads is translated, in every language, and compiled."""

import pytest
from django.conf import settings
from django.utils import translation

from tests.i18n.catalogs import (
    catalogs,
    entries,
    facing_files,
    facing_msgids,
    languages,
    placeholders,
    plural_forms,
    translations,
)

# {% translate %} and blocktranslate output a translation unescaped: in an attribute, or in
# the JSON texts of the call screen, one of these would break the page.
UNSAFE_IN_TEMPLATES = set('"\\<>&')


def test_the_source_texts_are_found():
    ids = facing_msgids()
    assert any(path.name == "_call_stage.html" for path in facing_files())
    assert "Code de connexion" in ids  # a template
    assert "Connexion perdue, reconnexion…" in ids  # the JSON texts of the call screen
    assert "Votre crédit est insuffisant." in ids  # a kiosk refusal (Python)
    assert "Frère ou sœur" in ids  # a relationship label
    assert "Panne du serveur vidéo" in ids  # an end reason
    assert any("%(link)s" in msgid and "%(code)s" in msgid for msgid in ids)  # the code SMS


def test_the_languages_are_the_issues_and_french_is_the_source():
    codes = [code for code, _name in settings.LANGUAGES]
    assert settings.LANGUAGE_CODE == "fr" and codes[0] == "fr"
    assert {"en", "es", "pt", "it", "de", "ar", "ro", "tr", "ru", "pl", "nl"} <= set(codes)
    names = dict(settings.LANGUAGES)
    assert names["ar"] == "العربية" and names["ru"] == "Русский"


@pytest.mark.parametrize("language", languages())
def test_every_facing_text_is_translated_with_its_placeholders(language):
    assert catalogs(language), f"no catalogue for {language}"
    found = entries(language)
    problems = []
    forms = plural_forms(language)
    for msgid in sorted(facing_msgids()):
        translated = [e for e in found.get(msgid, []) if translations(e) and "fuzzy" not in e.flags]
        if not translated:
            problems.append(("untranslated", msgid))
        for entry in found.get(msgid, []):
            if "fuzzy" in entry.flags:
                problems.append(("fuzzy", msgid))
            if entry.msgid_plural and len(translations(entry)) != forms:
                problems.append(("plural forms", msgid, len(translations(entry)), forms))
            for text in translations(entry):
                if placeholders(text) != placeholders(msgid):
                    problems.append(("placeholders", msgid, text))
                in_template = any(path.startswith("templates/") for path, _ in entry.occurrences)
                unsafe = {c for c in text if c in UNSAFE_IN_TEMPLATES and c not in msgid}
                if in_template and unsafe:
                    problems.append(("unsafe in a template", msgid, text))
    assert problems == [], f"{language}: {len(problems)} problems, first: {problems[:5]}"


@pytest.mark.parametrize("language", languages())
def test_the_compiled_catalogues_say_what_the_po_files_say(language):
    found = entries(language)
    with translation.override(language):
        for msgid in facing_msgids():
            plural = next((e.msgid_plural for e in found.get(msgid, []) if e.msgid_plural), "")
            expected = {text for e in found.get(msgid, []) for text in translations(e)}
            if plural:
                # Every form the language's rule picks, over the counts a page may show.
                for n in range(0, 120):
                    assert translation.ngettext(msgid, plural, n) in expected, (language, msgid, n)
            else:
                assert translation.gettext(msgid) in expected, (language, msgid)
