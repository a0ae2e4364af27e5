"""Checks the serving processes run before they accept anything.

Secrets that only some commands need (Janus's, the recordings master key) are optional
when Django loads, so that tests and one-off commands start without them; the web
server, which needs all of them, refuses to start without any of them.
"""

from django.conf import settings

from parloir.env import ConfigurationError

SERVING_SECRETS = {
    "JANUS_ADMIN_SECRET": "PARLOIR_JANUS_ADMIN_SECRET",
    "JANUS_ROOM_ADMIN_KEY": "PARLOIR_JANUS_ROOM_ADMIN_KEY",
    "RECORDING_MASTER_KEY": "PARLOIR_RECORDING_MASTER_KEY",
}


def check_serving_secrets() -> None:
    if settings.DEBUG:
        return
    missing = [env for name, env in SERVING_SECRETS.items() if not getattr(settings, name, None)]
    if missing:
        raise ConfigurationError(
            "Missing secrets for serving: "
            + ", ".join(f"{name} (or {name}_FILE)" for name in missing)
            + "; see docs/configuration.md"
        )
