"""Background processes that scripts/run starts beside the web server.

Each layer adds its looping worker here (media health, call deadlines, notifications...).
"""

from collections.abc import Callable


def extra_processes(manage: Callable[..., list[str]]) -> list[tuple[str, list[str]]]:
    from django.conf import settings

    if settings.IN_PROCESS_WORKERS:
        # Without Redis the workers run inside the web process (parloir/background.py).
        return []
    return [
        ("calls_worker", manage("calls_worker")),
        ("media_health", manage("media_health")),
    ]
