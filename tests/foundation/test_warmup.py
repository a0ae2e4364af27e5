from django.template import engines

from calls import protocol
from parloir import events
from parloir.warmup import warm_up


def test_it_prepares_every_schema_validator_and_template_before_the_first_request(settings):
    events._VALIDATORS.clear()
    done = warm_up()
    schemas = [*events.EVENT_SCHEMAS.values(), *protocol.CLIENT_FRAMES.values()]
    assert done["schemas"] == len(schemas)
    assert {id(schema) for schema in schemas} <= set(events._VALIDATORS)
    # Where events are not checked (production), their validators are not needed.
    settings.CHECK_EVENT_SCHEMAS = False
    events._VALIDATORS.clear()
    assert warm_up()["schemas"] == len(protocol.CLIENT_FRAMES)
    assert set(events._VALIDATORS) == {id(schema) for schema in protocol.CLIENT_FRAMES.values()}
    # The cached loader holds the pages of a call's set-up, compiled.
    loader = engines["django"].engine.template_loaders[0]
    cached = {key.split("-")[0] for key in loader.get_template_cache}
    for page in ("kiosk/call.html", "portal/code.html", "portal/call.html", "base.html"):
        assert page in cached
    assert done["templates"] >= 50


def test_the_web_process_warms_up_as_it_loads(monkeypatch):
    import importlib
    import sys

    events._VALIDATORS.clear()
    loader = engines["django"].engine.template_loaders[0]
    loader.reset()
    monkeypatch.delitem(sys.modules, "parloir.asgi", raising=False)
    importlib.import_module("parloir.asgi")
    assert {id(schema) for schema in protocol.CLIENT_FRAMES.values()} <= set(events._VALIDATORS)
    assert any(key.startswith("portal/code.html") for key in loader.get_template_cache)
