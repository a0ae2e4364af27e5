"""Fixtures: the real peers, parloir configured to use them, and the notify worker."""

import pytest

from tests.telephony import peers
from tests.telephony.support import running_worker, watching


@pytest.fixture
def kannel(tmp_path):
    gateway = peers.KannelPeers(tmp_path / "kannel")
    gateway.workdir.mkdir()
    try:
        gateway.start()
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture
def smsc(tmp_path):
    server = peers.Smsc(tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def baresip_factory(tmp_path):
    started = []

    def make(**kwargs):
        callee = peers.Baresip(tmp_path / f"baresip{len(started)}", **kwargs)
        callee.workdir.mkdir()
        started.append(callee)
        callee.start()
        return callee

    yield make
    for callee in started:
        callee.stop()


@pytest.fixture
def notify_settings(settings):
    settings.NOTIFY_RETRY_SECONDS = 1
    settings.NOTIFY_MAX_ATTEMPTS = 3
    settings.NOTIFY_POLL_MS = 200
    settings.SMS_BACKEND = "outbox"
    settings.VOICE_BACKEND = "outbox"
    return settings


@pytest.fixture
def use_kannel(notify_settings, kannel, live_server):
    notify_settings.SMS_BACKEND = "kannel"
    notify_settings.KANNEL_SENDSMS_URL = kannel.sendsms_url
    notify_settings.KANNEL_USERNAME = kannel.username
    notify_settings.KANNEL_PASSWORD = kannel.password
    notify_settings.KANNEL_DLR_TOKEN = "test-dlr-token"
    notify_settings.KANNEL_DLR_BASE_URL = live_server.url
    return kannel


@pytest.fixture
def use_smpp(notify_settings, smsc):
    from notify.backends import smpp

    notify_settings.SMS_BACKEND = "smpp"
    notify_settings.SMPP_HOST = "127.0.0.1"
    notify_settings.SMPP_PORT = smsc.port
    notify_settings.SMPP_SYSTEM_ID = smsc.system_id
    notify_settings.SMPP_PASSWORD = smsc.password
    notify_settings.SMPP_MAX_PER_SECOND = 50
    notify_settings.SMPP_ENQUIRE_SECONDS = 5
    yield smsc
    # The link is per process: the next test has another SMSC.
    smpp.close_link()


@pytest.fixture
def use_sip(notify_settings):
    """Point the voice backend at a baresip; returns a function taking the callee."""

    def point_at(callee):
        low, high = peers.free_udp_range(20)
        notify_settings.VOICE_BACKEND = "sip"
        notify_settings.SIP_PROXY = f"127.0.0.1:{callee.port}"
        notify_settings.SIP_DOMAIN = "127.0.0.1"
        notify_settings.SIP_LOCAL_IP = "127.0.0.1"
        notify_settings.SIP_RTP_PORTS = f"{low}-{high}"
        notify_settings.SIP_RING_SECONDS = 20
        return callee

    return point_at


@pytest.fixture
def worker():
    with running_worker() as loop:
        yield loop


@pytest.fixture
def statuses():
    with watching() as watcher:
        yield watcher
