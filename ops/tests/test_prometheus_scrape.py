"""Debian's Prometheus scrapes a running parloir: a web server on loopback (/metrics) and
a worker process (its exporter port), with the alert rules loaded, and answers queries
about parloir's metrics through its HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from media.models import MediaNode
from tests.e2e.stack import database_url
from tests.media.harness import _die_with_parent
from tests.telephony.peers import free_port

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "parloir.rules.yml"


def _spawn(argv: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        argv,
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # noqa: PLW1509
    )


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return json.load(response)
    except OSError:
        return None  # not listening yet


def _until(what: str, check, logs: list[Path], timeout: float = 60.0):
    """Poll ``check`` (a query to Prometheus) until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
    raise AssertionError(f"Prometheus never saw {what} within {timeout} s\n{tails}")


def _worker_env(port: int) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
    env.pop("REDIS_URL", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "parloir.test_settings",
            "DATABASE_URL": database_url(),
            "PARLOIR_SECRET_KEY": settings.SECRET_KEY,
            "PARLOIR_VAR_DIR": str(settings.VAR_DIR),
            "PARLOIR_METRICS_PORT": str(port),
        }
    )
    return env


def test_prometheus_scrapes_the_web_server_and_a_worker(live_server, tmp_path):
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus missing: apt-get install prometheus (scripts/lib.sh)"
    node = MediaNode.objects.create(
        name="media-scraped",
        ws_url="ws://127.0.0.1:8188",
        admin_ws_url="ws://127.0.0.1:7188",
        recording_dir="/srv/recordings/media-scraped",
        last_seen_at=timezone.now(),
    )
    MediaNode.objects.filter(pk=node.pk).update(state=MediaNode.State.UP, load=4)

    web = urllib.parse.urlsplit(live_server.url).netloc
    worker_port, api_port = free_port(), free_port()
    worker_log, prometheus_log = tmp_path / "calls_worker.log", tmp_path / "prometheus.log"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML: no YAML library needed to write it
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {"job_name": "parloir-web", "static_configs": [{"targets": [web]}]},
                    {
                        "job_name": "parloir-workers",
                        "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}],
                    },
                ],
            }
        )
    )
    processes = [
        _spawn([sys.executable, "manage.py", "calls_worker"], worker_log, _worker_env(worker_port)),
        _spawn(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{api_port}",
            ],
            prometheus_log,
        ),
    ]
    logs = [worker_log, prometheus_log]
    api = f"http://127.0.0.1:{api_port}/api/v1"

    def query(expr: str):
        answer = _get(f"{api}/query?{urllib.parse.urlencode({'query': expr})}")
        return answer and answer["status"] == "success" and answer["data"]["result"]

    try:
        # The service's state, read from the database by the web server's /metrics.
        found = _until(
            "the media node's load",
            lambda: query('parloir_media_node_rooms{node="media-scraped"}'),
            logs,
        )
        assert found[0]["metric"]["job"] == "parloir-web"
        assert found[0]["value"][1] == "4"
        # The worker's own exporter: its loop's last pass.
        found = _until(
            "the call worker's pass",
            lambda: query('parloir_worker_last_pass_timestamp_seconds{worker="calls"}'),
            logs,
        )
        assert found[0]["metric"]["job"] == "parloir-workers"
        assert abs(float(found[0]["value"][1]) - time.time()) < 60
        targets = _get(f"{api}/targets")["data"]["activeTargets"]
        assert {t["labels"]["job"]: t["health"] for t in targets} == {
            "parloir-web": "up",
            "parloir-workers": "up",
        }
        rules = _get(f"{api}/rules")["data"]["groups"]
        loaded = {rule["name"] for group in rules for rule in group["rules"]}
        assert {"ParloirMediaNodeDown", "ParloirWorkerNotRunning"} <= loaded
    finally:
        for process in processes:
            _stop(process)
