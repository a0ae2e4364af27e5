"""Fixtures for the media tests: a private network namespace and real Janus processes.

These tests never skip: on a machine without root, iproute2 or Janus they fail
and say why (CI runs as root with them installed).
"""

import itertools
from collections.abc import Iterator

import pytest

from tests.media.fixtures import namespace_fixture, runner_fixture
from tests.media.harness import (
    JanusProcess,
    Netns,
    TurnProcess,
)

netns = namespace_fixture()
runner = runner_fixture("netns")


@pytest.fixture(scope="session")
def _shared_janus(netns: Netns, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JanusProcess]:
    process = JanusProcess(netns, tmp_path_factory.mktemp("janus"))
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture
def janus(_shared_janus: JanusProcess) -> JanusProcess:
    """The session's Janus, restarted if an earlier test left it dead."""
    if not _shared_janus.alive:
        _shared_janus.start()
    return _shared_janus


# Ports never used twice in a session: a Janus that an earlier test stopped, or one still
# exiting, cannot answer in place of the next test's (a frozen Janus then seemed to reply).
_OWN_PORTS = itertools.count(9000, 2)


@pytest.fixture
def start_janus(netns: Netns, tmp_path_factory: pytest.TempPathFactory):
    """Starts Janus processes of the test's own, for tests that kill, freeze or
    reconfigure them; each on its own ports, all stopped after the test."""
    started: list[JanusProcess] = []

    def start(**options) -> JanusProcess:
        port = next(_OWN_PORTS)
        process = JanusProcess(
            netns,
            tmp_path_factory.mktemp("own-janus"),
            name=f"own-node-{len(started)}",
            ws_port=port,
            admin_ws_port=port + 1,
            rtp_port_range="30000-39999",
            **options,
        )
        started.append(process)
        process.start()
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def turn_server(netns: Netns, tmp_path) -> Iterator[TurnProcess]:
    process = TurnProcess(netns, tmp_path)
    try:
        process.start()
        yield process
    finally:
        process.stop()
