"""Fixtures for end-to-end tests: parloir, Janus and Chromium inside a private namespace.

A namespace of their own (not the media tests'), so that the web server's fixed port
and Janus's never meet the media tests' processes.
"""

from collections.abc import Iterator

import pytest

from tests.e2e.stack import Stack
from tests.media.harness import (
    HarnessError,
    JanusProcess,
    Netns,
    NetnsRunner,
    private_netns,
    running_in,
)


@pytest.fixture(scope="session")
def e2e_netns() -> Iterator[Netns]:
    try:
        with private_netns(prefix="parloir-e") as namespace:
            yield namespace
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def e2e_runner(e2e_netns: Netns) -> Iterator[NetnsRunner]:
    with running_in(e2e_netns) as runner:
        yield runner


@pytest.fixture
def e2e_janus(e2e_netns: Netns, tmp_path) -> Iterator[JanusProcess]:
    workdir = tmp_path / "janus"
    workdir.mkdir()
    process = JanusProcess(e2e_netns, workdir, name="e2e-node")
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture
def stack(e2e_netns: Netns, e2e_janus: JanusProcess, tmp_path) -> Iterator[Stack]:
    running = Stack(e2e_netns, e2e_janus, tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.stop()
