"""Session fixtures for a test package's own network namespace and the thread that runs
coroutines inside it. Each package that starts servers on fixed ports has a namespace
of its own, under its own prefix, so that their ports never meet."""

from collections.abc import Callable, Iterator

import pytest

from tests.media.harness import (
    NETNS_PREFIX,
    HarnessError,
    Netns,
    NetnsRunner,
    private_netns,
    running_in,
)


def namespace_fixture(prefix: str = NETNS_PREFIX) -> Callable[[], Iterator[Netns]]:
    """A session fixture: a private namespace named ``<prefix><pid>``; a machine that
    cannot make one fails the tests that need it, saying why."""

    @pytest.fixture(scope="session")
    def namespace() -> Iterator[Netns]:
        try:
            with private_netns(prefix=prefix) as made:
                yield made
        except HarnessError as exc:
            pytest.fail(str(exc), pytrace=False)

    return namespace


def runner_fixture(namespace_fixture_name: str) -> Callable[..., Iterator[NetnsRunner]]:
    """A session fixture: runs test coroutines inside the namespace that the fixture
    ``namespace_fixture_name`` gives (see harness.py for why a thread)."""

    @pytest.fixture(scope="session")
    def runner(request: pytest.FixtureRequest) -> Iterator[NetnsRunner]:
        with running_in(request.getfixturevalue(namespace_fixture_name)) as started:
            yield started

    return runner
