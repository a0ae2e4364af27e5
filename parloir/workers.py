"""Background processes that scripts/run starts beside the web server.

Each layer adds its looping worker here (media health, call deadlines, notifications...).
"""

from collections.abc import Callable


def extra_processes(manage: Callable[..., list[str]]) -> list[tuple[str, list[str]]]:
    return []
