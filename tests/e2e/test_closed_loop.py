"""The closed loop, end to end, with the demo's own orchestration on a short policy.

Real processes on loopback: the engine, docs-api, ingest, the gateway as baseline and
canary each behind a sidecar, Prometheus with the generated rules, Alertmanager routed to
the engine, and locust. A bad canary is staged; the test pins what the demo promises.

`SLOENGINE_E2E_SOURCE=prometheus` runs the same loop with the verdicts pulled from the
demo's Prometheus (`python -m examples.demo --source prometheus`, no push): the same
assertions hold (about 2.5 minutes more when run in addition to the default).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from examples.demo.orchestrator import Demo, DemoSettings

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
        reason="needs the Debian packages prometheus and prometheus-alertmanager",
    ),
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Demo, list[str]]:
    work = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    source = os.environ.get("SLOENGINE_E2E_SOURCE", "store")
    demo = Demo(DemoSettings.fast_profile(str(work), source), out=lines.append)
    code = demo.run()
    return code, demo, lines


def test_demo_exits_zero(demo_run: tuple[int, Demo, list[str]]) -> None:
    code, _, lines = demo_run
    assert code == 0, "\n".join(lines)


def test_healthy_canary_passes_before_the_fault(demo_run: tuple[int, Demo, list[str]]) -> None:
    _, demo, lines = demo_run
    names = [name for _, name, _ in demo.report.verdicts]
    assert "PASS" in names, "\n".join(lines)
    assert names.index("PASS") < names.index("FAIL"), "\n".join(lines)


def test_bad_canary_fails_over_grpc_with_a_reason(demo_run: tuple[int, Demo, list[str]]) -> None:
    _, demo, lines = demo_run
    assert demo.report.first_fail_reason.startswith("FAIL: "), "\n".join(lines)


def test_alert_fires_and_alertmanager_delivers_it_to_the_engine(
    demo_run: tuple[int, Demo, list[str]],
) -> None:
    _, demo, lines = demo_run
    assert demo.report.alert_fired, "\n".join(lines)
    assert demo.report.alert_reached_engine, "\n".join(lines)


def test_rollback_hook_runs_exactly_once(demo_run: tuple[int, Demo, list[str]]) -> None:
    _, demo, lines = demo_run
    assert demo.report.rollback_runs == 1, "\n".join(lines)
    weight = (Path(demo.work) / "canary-weight").read_text().strip()
    assert weight == "0"


def test_audit_chain_verifies(demo_run: tuple[int, Demo, list[str]]) -> None:
    _, demo, _ = demo_run
    assert demo.report.audit_verified


def test_trace_linkage_is_complete(demo_run: tuple[int, Demo, list[str]]) -> None:
    _, demo, _ = demo_run
    assert "(100.0%)" in demo.report.trace_linkage
    assert "uncovered" not in demo.report.trace_linkage, demo.report.trace_linkage


def test_load_test_recovers_after_the_rollback(demo_run: tuple[int, Demo, list[str]]) -> None:
    _, demo, lines = demo_run
    assert demo.report.load_exit_code == 0, "\n".join(lines)


def test_smoke_checks_pass_after_the_rollback(demo_run: tuple[int, Demo, list[str]]) -> None:
    _, demo, lines = demo_run
    assert demo.report.smoke_exit_code == 0, "\n".join(lines)
