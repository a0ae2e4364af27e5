"""What a web process does once, before its first request rather than during it.

A process started by a rolling upgrade (or after a crash) takes its first calls at once,
maybe at the top of the hour. Each of these costs tens of milliseconds the first time
only: importing the Redis channel layer (the first event sent), building the validators
of the WebSocket frames' schemas (and of the events', where they are checked), parsing
and compiling each template (Django's cached loader keeps them after the first render).
Paid at start-up, they are not paid by the first kiosks and families, in the middle of
their call's set-up.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def warm_up() -> dict[str, int]:
    """Prepare what the first requests would otherwise prepare; what was prepared, counted."""
    from channels.layers import get_channel_layer
    from django.conf import settings
    from django.template import engines
    from django.template.exceptions import TemplateSyntaxError

    from calls import protocol
    from parloir import events

    started = time.monotonic()
    get_channel_layer()
    schemas = list(protocol.CLIENT_FRAMES.values())
    if settings.CHECK_EVENT_SCHEMAS:
        schemas += events.EVENT_SCHEMAS.values()
    for schema in schemas:
        events.validator_for(schema)
    templates = 0
    for engine in engines.all():
        loader_dirs = [
            directory
            for loader in engine.engine.template_loaders
            for directory in loader.get_dirs()
        ]
        for directory in loader_dirs:
            for path in sorted(directory.rglob("*.html")):
                try:
                    engine.get_template(str(path.relative_to(directory)))
                except TemplateSyntaxError as exc:
                    # A package's template that only compiles where it is included: its
                    # first render will say more than a web process refusing to start.
                    log.warning("Template %s not compiled ahead: %s", path, exc)
                    continue
                templates += 1
    done = {"schemas": len(schemas), "templates": templates}
    log.info("Warmed up in %.2f s: %s", time.monotonic() - started, done)
    return done
