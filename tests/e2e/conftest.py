"""Fixtures for end-to-end tests: parloir, Janus and Chromium inside a private namespace."""

import os
from collections.abc import Iterator

import pytest

from tests.e2e.stack import Stack
from tests.media.harness import HarnessError, JanusProcess, Netns, NetnsRunner, check_prerequisites


@pytest.fixture(scope="session")
def e2e_netns() -> Iterator[Netns]:
    try:
        check_prerequisites()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    namespace = Netns(f"parloir-e{os.getpid()}")
    namespace.create()
    try:
        yield namespace
    finally:
        namespace.delete()


@pytest.fixture(scope="session")
def e2e_runner(e2e_netns: Netns) -> Iterator[NetnsRunner]:
    runner = NetnsRunner(e2e_netns)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture
def e2e_janus(e2e_netns: Netns, tmp_path) -> Iterator[JanusProcess]:
    process = JanusProcess(e2e_netns, tmp_path / "janus", name="e2e-node")
    (tmp_path / "janus").mkdir()
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
