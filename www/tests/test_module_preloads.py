"""Pages fetch their ES modules and everything those import at once (modulepreload)."""

import re
from pathlib import Path

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.urls import reverse

from www.templatetags.modules import module_graph

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
MODULE_REFERENCE = re.compile(
    r"""(?:<script type="module" src=|import[^"']*from )"\{% static '([^']+\.js)' %\}\""""
)


def _render(text: str) -> str:
    return Template("{% load modules %}" + text).render(Context())


def test_it_preloads_a_module_and_everything_it_imports():
    assert _render("{% module_preloads 'js/console-wall.js' %}") == (
        '<link rel="modulepreload" href="/static/js/console-wall.js">'
        '<link rel="modulepreload" href="/static/js/console-watch.js">'
        '<link rel="modulepreload" href="/static/js/protocol.js">'
    )


def test_it_refuses_a_module_that_does_not_exist():
    with pytest.raises(TemplateSyntaxError):
        _render("{% module_preloads 'js/nope.js' %}")


def test_every_page_that_loads_a_module_with_imports_preloads_them():
    checked = 0
    for page in TEMPLATES.rglob("*.html"):
        text = page.read_text()
        for module in MODULE_REFERENCE.findall(text):
            if len(module_graph(module)) > 1:
                checked += 1
                assert f"{{% module_preloads '{module}' %}}" in text, (
                    f"{page.relative_to(TEMPLATES)} loads {module} without preloading its imports"
                )
    assert checked >= 5  # the call pages, the device check and the console's two pages


@pytest.mark.django_db
def test_it_puts_the_preloads_in_the_head_of_a_portal_page(client):
    html = client.get(reverse("portal:check")).content.decode()
    head = html.split("</head>")[0]
    assert '<link rel="modulepreload" href="/static/js/protocol.js">' in head
    assert 'id="pwa-script"' in head  # the portal's own head is kept
