"""Recording settings and tools that production needs (``manage.py check --deploy``)."""

from __future__ import annotations

import shutil
from typing import Any

from django.conf import settings
from django.core import checks

from recordings import crypto


@checks.register(checks.Tags.security, deploy=True)
def check_recordings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    if not settings.RECORDING_MASTER_KEY:
        problems.append(
            checks.Error(
                "PARLOIR_RECORDING_MASTER_KEY is not set: calls are recorded but never "
                "processed, and their raw files stay on the media nodes",
                id="recordings.E001",
            )
        )
    else:
        try:
            crypto.keyring()
        except crypto.CryptoError as exc:
            problems.append(checks.Error(str(exc), id="recordings.E002"))
    for tool in ("janus-pp-rec", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            problems.append(
                checks.Error(
                    f"`{tool}` is not installed (janus-tools, ffmpeg)", id="recordings.E003"
                )
            )
    return problems
