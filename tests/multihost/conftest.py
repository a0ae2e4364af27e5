"""The multi-host deployment, brought up once for the module that needs it.

These tests are marked ``multihost`` (and ``media``, ``browser``): `scripts/test` runs
them in their own part of the suite, after the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.e2e.browser import Browsers, browsers_on
from tests.e2e.stack import CHROMIUM_ARGS
from tests.media.harness import HarnessError, NetnsRunner, check_prerequisites
from tests.multihost.deployment import SITE, Deployment
from tests.multihost.topology import require_tools


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    try:
        check_prerequisites()
        require_tools()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    deployed = Deployment(tmp_path_factory.mktemp("multihost"))
    try:
        deployed.start()
        yield deployed
    except BaseException:
        for host, name in list(deployed.net.processes):
            print(f"--- {host}/{name} ---\n{deployed.net.tail(host, name, 40)}")
        raise
    finally:
        deployed.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def logs_of_a_failure(request, deployment) -> Iterator[None]:
    """A failed scenario prints what the web hosts and the load balancer logged meanwhile:
    a failure on a loaded CI machine can seldom be run again to see why."""
    offsets = {key: deployment.net.log_size(*key) for key in deployment.net.processes}
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    for (host, name), offset in offsets.items():
        if host.startswith("web") or host == "lb":
            logged = deployment.net.since(host, name, offset)
            print(f"--- {host}/{name}, during the test ---\n{logged}")


@pytest.fixture(scope="module")
def family(deployment) -> Iterator[NetnsRunner]:
    with _runner(deployment, "family") as runner:
        yield runner


@pytest.fixture(scope="module")
def prison(deployment) -> Iterator[NetnsRunner]:
    with _runner(deployment, "prison") as runner:
        yield runner


@contextmanager
def _runner(deployment: Deployment, host: str) -> Iterator[NetnsRunner]:
    runner = NetnsRunner(deployment.net.host(host).netns)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@contextmanager
def site_browser(deployment: Deployment, runner: NetnsRunner, host: str) -> Iterator[Browsers]:
    """Chromium on ``host``'s network, reaching the site by its name through the load
    balancer and trusting the deployment's CA (an NSS database in its HOME)."""
    home = deployment.workdir / f"home-{host}"
    if not home.exists():
        deployment.ca.nss_home(home)
    env = {**{k: v for k, v in os.environ.items() if k in ("PATH", "LANG")}, "HOME": str(home)}
    args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {SITE} {deployment.address('lb')}"]
    with browsers_on(runner, args, env) as browsers:
        yield browsers
