"""The processes that scripts/run starts beside the web server.

Without Redis the workers run inside the web process (parloir/background.py); with
Redis they are separate processes. A local Janus (and coturn, when TURN is
configured) is started for the media node named "local", from configuration
generated out of the templates in deploy/.
"""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

LOCAL_NODE = "local"


def extra_processes(manage: Callable[..., list[str]]) -> list[tuple[str, list[str]]]:
    from notify.kannel import managed_processes

    processes = local_media_processes(manage) + managed_processes()
    if not settings.IN_PROCESS_WORKERS:
        processes += [
            ("calls_worker", manage("calls_worker")),
            ("media_health", manage("media_health")),
            ("notify_worker", manage("notify_worker")),
            ("recordings_worker", manage("recordings_worker")),
            ("stats_worker", manage("stats_worker")),
        ]
    return processes


def local_media_processes(manage: Callable[..., list[str]]) -> list[tuple[str, list[str]]]:
    from media.models import MediaNode

    if not MediaNode.objects.filter(name=LOCAL_NODE).exists():
        return []
    if shutil.which("janus") is None:
        raise SystemExit("The media node 'local' needs Janus: apt-get install janus")
    out = Path(settings.VAR_DIR) / "janus" / LOCAL_NODE
    turn = bool(settings.TURN_URLS and settings.TURN_SECRET)
    if turn and shutil.which("turnserver") is None:
        # Browsers would be given a TURN server that is not there.
        raise SystemExit("PARLOIR_TURN_URLS is set but coturn is missing: apt-get install coturn")
    subprocess.run(
        manage(
            "media_config",
            "--node",
            LOCAL_NODE,
            "--out",
            str(out),
            *([] if turn else ["--no-turn"]),
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    processes = [("janus", ["janus", "-F", str(out), "-C", str(out / "janus.jcfg")])]
    if turn:
        processes.append(("coturn", ["turnserver", "-c", str(out / "turnserver.conf")]))
    return processes
