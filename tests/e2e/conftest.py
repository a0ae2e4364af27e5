"""Fixtures for end-to-end tests: parloir, Janus and Chromium inside a private namespace.

A namespace of their own (not the media tests'), so that the web server's fixed port
and Janus's never meet the media tests' processes.
"""

from collections.abc import Iterator

import pytest

from tests.e2e.stack import Stack
from tests.media.fixtures import namespace_fixture, runner_fixture
from tests.media.harness import JanusProcess, Netns

e2e_netns = namespace_fixture("parloir-e")
e2e_runner = runner_fixture("e2e_netns")


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
