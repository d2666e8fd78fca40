"""The --loadtest-* options: in locust's parser (help, web UI form, config), parsed into Settings,
and a bad value stops locust with exit code 2 and a message naming the option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from loadtests.options import SettingsError, settings_from

REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOADTEST_", "LOCUST_"))}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def test_defaults_match_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOADTEST_PROFILE", "LOADTEST_P95_LIMIT_S", "LOADTEST_WARMUP_S"):
        monkeypatch.delenv(name, raising=False)
    s = settings_from(SimpleNamespace())
    assert (s.profile, s.warmup_seconds, s.interval_seconds, s.last_intervals) == (
        "steady",
        10.0,
        5.0,
        6,
    )
    assert {lim.expression for lim in s.thresholds.limits_for("x")} == {"p(95)<1500", "rate<0.01"}


def test_old_environment_variables_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADTEST_P95_LIMIT_S", "0.8")
    monkeypatch.setenv("LOADTEST_LAST_INTERVALS", "4")
    s = settings_from(SimpleNamespace())
    assert s.last_intervals == 4
    assert "p(95)<800" in {lim.expression for lim in s.thresholds.limits_for("x")}


def test_options_win_and_accept_units() -> None:
    s = settings_from(
        SimpleNamespace(
            loadtest_p95_limit="250ms",
            loadtest_warmup="1m",
            loadtest_thresholds='{"http_req_failed{name:GET /x}": ["rate<0.5"]}',
        )
    )
    assert s.warmup_seconds == 60
    assert {lim.expression for lim in s.thresholds.limits_for("GET /x")} == {
        "p(95)<250",
        "rate<0.5",
    }


def test_thresholds_from_a_k6_style_file(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(
        "thresholds:\n"
        "  http_req_duration: ['p(95)<900']\n"
        "  'http_req_failed{name:POST /ingest}':\n"
        "    - {threshold: 'rate<0.02', abortOnFail: true, delayAbortEval: 30s}\n"
    )
    s = settings_from(SimpleNamespace(loadtest_thresholds=str(path)))
    limits = {lim.expression: lim for lim in s.thresholds.limits_for("POST /ingest")}
    assert set(limits) == {"p(95)<900", "rate<0.02"}
    assert limits["rate<0.02"].abort_on_fail and limits["rate<0.02"].delay_abort_eval_seconds == 30


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"loadtest_profile": "spike"}, "--loadtest-profile: 'spike' is not one of"),
        ({"loadtest_profile": "canary"}, "--loadtest-canary-host: required"),
        (
            {"loadtest_canary_host": "canary:8000"},
            "--loadtest-canary-host: expected an http(s) URL",
        ),
        ({"loadtest_interval": "0s"}, "--loadtest-interval: must be more than 0s"),
        ({"loadtest_warmup": "soon"}, "--loadtest-warmup: expected a duration"),
        ({"loadtest_last_intervals": "0"}, "--loadtest-last-intervals: expected an integer >= 1"),
        ({"loadtest_error_ratio_limit": "5%"}, "--loadtest-error-ratio-limit: expected a number"),
        (
            {"loadtest_canary_weight": "1.5"},
            "--loadtest-canary-weight: expected a number in [0, 1]",
        ),
        ({"loadtest_rollout_steps": "30,10"}, "--loadtest-rollout-steps: steps must increase"),
        ({"loadtest_thresholds": "{http_req_duration: [p95<1]}"}, "unknown aggregation 'p95'"),
        ({"loadtest_thresholds": "/nonexistent/t.yaml"}, "cannot read '/nonexistent/t.yaml'"),
    ],
)
def test_bad_values_name_the_option(options: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        settings_from(SimpleNamespace(**options))
    assert message in str(info.value)


def test_the_options_are_in_the_web_ui_form() -> None:
    """locust's own list of web UI arguments (what its start form shows) includes ours."""
    code = (
        "import loadtests.plugin\n"
        "from locust.argument_parser import ui_extra_args_dict\n"
        "args = ui_extra_args_dict([])\n"
        "print(sorted(k for k in args if k.startswith('loadtest_')))\n"
        "print(args['loadtest_thresholds']['help_text'][:20])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    names = eval(out.stdout.splitlines()[0])  # a printed list of strings
    assert "loadtest_thresholds" in names and "loadtest_profile" in names and len(names) == 13
    assert out.stdout.splitlines()[1].startswith("k6-style thresholds")


def test_help_lists_the_options() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loadtests", "--help"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    for flag in ("--loadtest-thresholds", "--loadtest-profile", "--loadtest-rollout-pause"):
        assert flag in out.stdout
    assert "--headless" in out.stdout  # it is locust's own help, extended


def test_invalid_options_stop_locust_before_any_load(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "loadtests" / "locustfile.py"),
            "--headless",
            "-H",
            "http://127.0.0.1:9",
            "-t",
            "5s",
            "--loadtest-thresholds",
            "{http_req_duration: ['p(95)<<1']}",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "loadtest: invalid options: --loadtest-thresholds: http_req_duration: cannot parse" in (
        out.stderr
    )
    assert "Traceback" not in out.stderr
