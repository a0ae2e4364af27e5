"""The recordings' tools yield the CPU to calls: at the top of the hour the last slot's
recordings are composed while the next slot's calls are set up (docs/performance.md)."""

import os
import sys

from recordings import compose
from recordings.jobs import tools_runner

PRINT_NICENESS = [sys.executable, "-c", "import os; print(os.nice(0))"]


def test_it_runs_the_tools_at_a_lower_cpu_priority_than_the_worker():
    ours = os.nice(0)
    (niced,) = compose.Runner(nice=7).run(PRINT_NICENESS)
    (plain,) = compose.Runner().run(PRINT_NICENESS)
    assert int(niced.output) == min(19, ours + 7)
    assert int(plain.output) == ours


def test_a_job_runs_its_tools_at_the_configured_priority(settings, tmp_path):
    settings.RECORDINGS_NICE = 5
    renewed = []
    runner = tools_runner(lambda: renewed.append(True), tmp_path)
    (outcome,) = runner.run(PRINT_NICENESS)
    assert int(outcome.output) == min(19, os.nice(0) + 5)
    assert (tmp_path / "logs").is_dir()  # the tools' logs stay in the job's folder


def test_production_lowers_the_tools_priority_by_default():
    from parloir import settings as production

    assert production.RECORDINGS_NICE == 10
