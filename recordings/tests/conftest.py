"""Fixtures for the recordings tests.

Media tests use a namespace and a Janus of their own (prefix ``parloir-r``), built with the
tests/media harness: the fixtures of tests/media/conftest.py are scoped to that folder,
and a second namespace named like theirs would clash when both suites run together.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from recordings.tests import helpers
from tests.media.fixtures import namespace_fixture, runner_fixture
from tests.media.harness import (
    JanusProcess,
    Netns,
    NetnsRunner,
)


@pytest.fixture
def rec_settings(settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    settings.RECORDINGS_WORK_DIR = tmp_path / "work"
    settings.RECORDING_MASTER_KEY = helpers.MASTER_KEY
    settings.RECORDING_OLD_MASTER_KEYS = None
    settings.RECORDING_SIGNING_KEY = None
    # The tests destroy their rooms and wait for Janus's hangup: the files are closed.
    settings.RECORDINGS_SETTLE_SECONDS = 0
    return settings


@pytest.fixture(scope="session")
def sample_webm(tmp_path_factory) -> Path:
    return helpers.make_webm(tmp_path_factory.mktemp("media") / "sample.webm", seconds=3)


@pytest.fixture
def node(tmp_path):
    return helpers.media_node(tmp_path / "janus-recordings")


@pytest.fixture
def recording(node, sample_webm):
    """A ready recording (of a short test pattern) of a call that just ended."""
    call = helpers.end_call(helpers.live_call(node, 900))
    return helpers.sealed_recording(call, sample_webm)


# --- Real Janus --------------------------------------------------------------------------


rec_netns = namespace_fixture("parloir-r")
rec_runner = runner_fixture("rec_netns")


@pytest.fixture(scope="session")
def rec_janus(rec_netns: Netns, tmp_path_factory) -> Iterator[JanusProcess]:
    process = JanusProcess(
        rec_netns,
        tmp_path_factory.mktemp("rec-janus"),
        name="rec-node",
        ws_port=8388,
        admin_ws_port=7388,
        rtp_port_range="41000-44999",
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture
def own_janus(rec_netns: Netns, tmp_path):
    """A Janus of the test's own, to kill."""
    process = JanusProcess(
        rec_netns,
        tmp_path / "own-janus",
        name="rec-crash",
        ws_port=8488,
        admin_ws_port=7488,
        rtp_port_range="45000-47999",
    )
    (tmp_path / "own-janus").mkdir()
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def real_call(rec_runner: NetnsRunner, rec_janus: JanusProcess) -> helpers.CallRun:
    """One real recorded call (about 6.5 s), shared: tests copy its files, never change them."""
    if not rec_janus.alive:
        rec_janus.start()
    return rec_runner.run(helpers.run_call(rec_janus, "shared-call", together=5.0), timeout=90)
