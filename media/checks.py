"""Media settings that must be present in production.

They are optional at import time (see the "Media plane" block of parloir/settings.py);
``require`` stops a media operation with a clear message instead, and
``manage.py check --deploy`` lists every missing one at once.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from parloir.env import ConfigurationError

REQUIRED = {
    "JANUS_ADMIN_SECRET": "PARLOIR_JANUS_ADMIN_SECRET",
    "JANUS_ROOM_ADMIN_KEY": "PARLOIR_JANUS_ROOM_ADMIN_KEY",
}


def require(setting: str) -> str:
    value = getattr(settings, setting, None)
    if not value:
        env_name = REQUIRED.get(setting) or f"PARLOIR_{setting}"
        raise ConfigurationError(
            f"{env_name} (or {env_name}_FILE) is required for the media plane; "
            "see docs/configuration.md"
        )
    return value


@checks.register(checks.Tags.security, deploy=True)
def check_media_secrets(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = [
        checks.Error(f"{env_name} is not set", id="media.E001", obj=setting)
        for setting, env_name in REQUIRED.items()
        if not getattr(settings, setting, None)
    ]
    if settings.TURN_URLS and not settings.TURN_SECRET:
        errors.append(
            checks.Error("PARLOIR_TURN_URLS is set but PARLOIR_TURN_SECRET is not", id="media.E002")
        )
    return errors
