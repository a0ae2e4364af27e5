"""Fixtures for the relative's-side browser tests: one stack per test module.

Starting Janus and the web server costs seconds, so each module shares one stack across
its tests; the database is emptied after each test, so each test registers the media
node again. The namespace is this package's own ("parloir-p", a prefix no other test
package uses: two session fixtures with one name would collide), so its fixed ports
never meet the other e2e tests'.
"""

from collections.abc import Iterator

import pytest

from tests.media.fixtures import namespace_fixture, runner_fixture
from tests.media.harness import (
    HarnessError,
    JanusProcess,
    Netns,
    NetnsRunner,
    running_in,
)
from tests.relative.support import FamilyNetns, PublicStack

relative_netns = namespace_fixture("parloir-p")
relative_runner = runner_fixture("relative_netns")


@pytest.fixture(scope="module")
def shared_stack(
    relative_netns: Netns, django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[PublicStack]:
    workdir = tmp_path_factory.mktemp("stack")
    (workdir / "janus").mkdir()
    janus = JanusProcess(relative_netns, workdir / "janus", name="relative-node")
    running = PublicStack(relative_netns, janus, workdir)
    try:
        janus.start()
        with django_db_blocker.unblock():
            running.start()
        yield running
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    finally:
        running.stop()
        janus.stop()


@pytest.fixture
def stack(shared_stack: PublicStack, transactional_db) -> PublicStack:
    # The previous test's flush took the media node away with everything else.
    shared_stack.register_node()
    shared_stack.wait_node_up()
    return shared_stack


@pytest.fixture(scope="module")
def family(relative_netns: Netns) -> Iterator[FamilyNetns]:
    namespace = FamilyNetns(relative_netns)
    try:
        namespace.create()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield namespace
    finally:
        namespace.unshape()
        namespace.delete()


@pytest.fixture(scope="module")
def family_runner(family: FamilyNetns) -> Iterator[NetnsRunner]:
    with running_in(family) as runner:
        yield runner
