"""The alert rules in deploy/prometheus, tested with Debian's promtool: every alert fires
in a test (ops/tests/rules.test.yml), and every alert has its runbook paragraph."""

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "parloir.rules.yml"
TESTS = Path(__file__).with_name("rules.test.yml")
RUNBOOKS = ROOT / "docs" / "operations.md"


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install prometheus (scripts/lib.sh)"
    return subprocess.run(  # noqa: S603
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _alerts() -> list[str]:
    return re.findall(r"^\s*- alert: (\w+)\s*$", RULES.read_text(), flags=re.M)


def test_the_rules_are_valid():
    done = _promtool("check", "rules", str(RULES), cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in done.stdout


def test_every_alert_behaves_as_its_rules_test_says():
    done = _promtool("test", "rules", TESTS.name, cwd=TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_fires_in_a_test():
    tests = TESTS.read_text()
    # An alertname followed by a non-empty list of expected alerts.
    fired = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", tests))
    assert _alerts() and set(_alerts()) <= fired, set(_alerts()) - fired


def test_every_alert_has_a_runbook_paragraph():
    headings = {
        re.sub(r"[^a-z0-9-]", "", line.lstrip("#").strip().lower().replace(" ", "-"))
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("#")
    }
    urls = re.findall(r'runbook_url: "docs/operations\.md#([a-z0-9-]+)"', RULES.read_text())
    assert len(urls) == len(_alerts())
    assert set(urls) <= headings, set(urls) - headings
