"""Benchmark: from "Appeler" (do_start_call) to the code SMS accepted by Kannel.

Runs a real Kannel (bearerbox + smsbox + fakesmsc, from deploy/kannel/) on loopback, the
notify worker on a loop of its own as it runs inside the web process, and a scratch test
database of whichever engine is configured (SQLite by default, PostgreSQL with
DATABASE_URL). Each round starts a call on a fresh booking and waits, through notify's
status hook, for its message to be "sent" (Kannel answered 202) and then for fakesmsc
to print it.

    .venv/bin/python bench/bench_sms.py [--calls 50]

Results are kept in docs/performance.md.
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parloir.test_settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402


class _DlrSink(BaseHTTPRequestHandler):
    """Kannel's delivery reports land here; the benchmark times acceptance only."""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()

    from calls import actions
    from calls.tests.helpers import ready_call
    from tests.telephony.peers import KannelPeers
    from tests.telephony.support import running_worker, watching

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _DlrSink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sms-"))
    gateway = KannelPeers(workdir)
    try:
        gateway.start()
        settings.SMS_BACKEND = "kannel"
        settings.KANNEL_SENDSMS_URL = gateway.sendsms_url
        settings.KANNEL_USERNAME = gateway.username
        settings.KANNEL_PASSWORD = gateway.password
        settings.KANNEL_DLR_TOKEN = "bench-dlr-token"
        settings.KANNEL_DLR_BASE_URL = f"http://127.0.0.1:{sink.server_port}"
        settings.SITE_URL = "https://parloir.justice.gouv.fr"
        returned, accepted, at_smsc = [], [], []
        with watching() as statuses, running_worker():
            for index in range(args.calls + 1):
                ready = ready_call()
                contact = ready.booking.contact
                contact.line_type = "mobile"
                contact.save(update_fields=["line_type"])
                mark = gateway.fakesmsc.mark()
                started = time.perf_counter()
                call = actions.do_start_call(ready.booking, device_label=ready.device.label)
                committed = time.perf_counter()
                message = call.codes.get().message
                statuses.wait(message.pk, "sent")
                sent = time.perf_counter()
                gateway.received(after=mark)
                arrived = time.perf_counter()
                if index:  # the first round warms up connections and caches
                    returned.append((committed - started) * 1000)
                    accepted.append((sent - started) * 1000)
                    at_smsc.append((arrived - started) * 1000)
        engine = connection.vendor
        print(f"engine: {engine}, calls: {args.calls}")
        for label, values in (
            ("do_start_call returned", returned),
            ("accepted by Kannel", accepted),
            ("printed by fakesmsc", at_smsc),
        ):
            print(
                f"{label:22} p50 {statistics.median(values):6.1f} ms   "
                f"p95 {percentile(values, 95):6.1f} ms   max {max(values):6.1f} ms"
            )
    finally:
        gateway.stop()
        sink.shutdown()
        if connection.vendor == "postgresql":
            # The worker's pool threads may still hold their connections.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
