"""{% module_preloads 'js/x.js' %}: the browser fetches a page's module and everything it
imports at once, instead of discovering each import only after the file that names it has
arrived. Without a bundler, that chain costs one round trip per level: a few ms here, a
few hundred on a poor mobile connection, before the call page can even open its socket."""

import posixpath
import re

from django import template
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.utils.html import format_html_join

register = template.Library()

# Static imports only ("import … from './x.js'" and "import './x.js'"): dynamic import()
# is fetched when it runs, on purpose.
IMPORT = re.compile(r"""^\s*import\s+(?:[^"';]*?\sfrom\s+)?["'](\.{1,2}/[^"']+)["']""", re.M)


def _read(path: str) -> str:
    found = finders.find(path)
    if not found:
        raise template.TemplateSyntaxError(f"No static module {path!r}")
    with open(found, encoding="utf-8") as source:
        return source.read()


def module_graph(path: str) -> list[str]:
    """``path`` and the static paths of every module it imports, directly or not."""
    graph: list[str] = []
    pending = [path]
    while pending:
        current = pending.pop(0)
        if current in graph:
            continue
        graph.append(current)
        folder = posixpath.dirname(current)
        for spec in IMPORT.findall(_read(current)):
            pending.append(posixpath.normpath(posixpath.join(folder, spec)))
    return graph


@register.simple_tag
def module_preloads(path: str) -> str:
    return format_html_join(
        "", '<link rel="modulepreload" href="{}">', ((static(p),) for p in module_graph(path))
    )
