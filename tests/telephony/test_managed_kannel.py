"""scripts/run starts Kannel when parloir manages it: the same commands, for real."""

import socket

import pytest
from django.db import transaction

from notify.actions import do_send_message
from parloir.workers import extra_processes
from tests.factories import ContactFactory
from tests.telephony.peers import Peer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.telephony]


def _free_base() -> int:
    """A port base whose +0, +1, +2 and +13 are all free."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + 13 > 65535:
            continue
        try:
            held = []
            for offset in (0, 1, 2, 13):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free port base")


def test_the_run_command_starts_kannel_and_an_sms_goes_through_it(
    notify_settings, tmp_path, live_server, worker, statuses
):
    settings = notify_settings
    settings.VAR_DIR = tmp_path
    settings.SMS_BACKEND = "kannel"
    settings.KANNEL_MANAGED = True
    settings.KANNEL_SMSC = "fake"
    settings.KANNEL_PORT_BASE = base = _free_base()
    settings.KANNEL_PASSWORD = "run-password"
    settings.KANNEL_DLR_TOKEN = "run-token"
    settings.KANNEL_DLR_BASE_URL = live_server.url
    settings.KANNEL_SENDSMS_URL = f"http://127.0.0.1:{base + 13}/cgi-bin/sendsms"
    processes = dict(extra_processes(lambda *args: ["manage.py", *args]))
    assert {"kannel-bearerbox", "kannel-smsbox", "kannel-fakesmsc"} <= set(processes)
    assert (tmp_path / "kannel" / "kannel.conf").stat().st_mode & 0o077 == 0
    started = []
    try:
        # All three at once, as the supervisor does: the launcher makes the boxes wait.
        for name in ("kannel-fakesmsc", "kannel-smsbox", "kannel-bearerbox"):
            peer = Peer(name, processes[name], tmp_path)
            peer.start()
            started.append(peer)
        fakesmsc, smsbox, bearerbox = started
        bearerbox.wait_for("Fakesmsc client connected", timeout=30)
        smsbox.wait_for("Connected to bearerbox", timeout=30)
        contact = ContactFactory(phone_number="+33612345673")
        with transaction.atomic():
            message = do_send_message(contact, purpose="other", text="Bonjour de scripts/run")
        statuses.wait(message.pk, "delivered")
        assert "Bonjour de scripts/run" in fakesmsc.wait_for("Got message")
    finally:
        for peer in reversed(started):
            peer.stop()
