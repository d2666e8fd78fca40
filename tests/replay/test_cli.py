"""`sloengine replay` end to end: a CSV of the agreement suite's gateway traffic, the demo
catalog, summary table, JSON and HTML; and every misuse as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sloengine.cli import main
from sloengine.replay import format_time, write_history
from tests.agreement.harness import BASE_UNIX_S
from tests.agreement.test_engine_rules_agree import CATALOG, GATEWAY_TIMELINE
from tests.replay.test_canary_agreement import TIMELINE as CANARY_TIMELINE
from tests.replay.traffic import timeline_frame

FIRST = BASE_UNIX_S + 60
LAST = BASE_UNIX_S + GATEWAY_TIMELINE.steps * 60


@pytest.fixture(scope="module")
def history_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "gateway.csv"
    frame = timeline_frame(GATEWAY_TIMELINE, BASE_UNIX_S)
    canary = timeline_frame(CANARY_TIMELINE, BASE_UNIX_S)
    canary["service"] = "docs-api"  # a second service with a canary and a baseline
    import pandas as pd

    write_history(pd.concat([frame, canary], ignore_index=True), path)
    return path


def _args(history: Path, *extra: str) -> list[str]:
    return [
        "replay", str(CATALOG), "--input", str(history),
        "--from", format_time(FIRST), "--to", str(LAST), *extra,
    ]  # fmt: skip


def test_compare_two_policies_side_by_side(
    history_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    code = main(
        _args(
            history_csv,
            "--policy",
            "fast-slow",
            "sre-workbook-30d",
            "--compare",
            "--json",
            str(out_json),
            "--html",
            str(out_html),
            "--canary",
            "docs-api",
        )
    )
    table = capsys.readouterr().out
    assert code == 0
    header = next(line for line in table.splitlines() if line.startswith("SLO "))
    assert "fast-slow" in header and "sre-workbook-30d" in header
    assert "gateway/requests-availability" in table and "gateway/search-latency" in table
    assert "canary docs-api (canary vs baseline): first FAIL 20" in table
    report = json.loads(out_json.read_text())
    assert report["schema"] == "sloengine.replay/v1"
    assert report["variants"] == ["fast-slow", "sre-workbook-30d"]
    gateway = [r for r in report["slos"] if r["service"] == "gateway"]
    assert len(gateway) == 4
    availability = next(
        r for r in gateway if r["name"] == "requests-availability" and r["policy"] == "fast-slow"
    )
    # The fast burn pages; the ticket opens during the slow burn; both resolve in the pause.
    page = next(a for a in availability["alerts"] if a["severity"] == "page")
    assert page["fired_at"] < page["resolved_at"]
    assert availability["alert_minutes"]["page"] == page["minutes"] > 0
    assert {"slo": "ingest-requests-availability"} not in report["skipped"]
    canary = report["canaries"][0]
    assert canary["first_fail_at"] and len(canary["steps"]) == GATEWAY_TIMELINE.steps
    html = out_html.read_text()
    # One figure per SLO (its policies side by side), one per canary; plotly.js inlined.
    assert html.count('class="plotly-graph-div"') == len({r["slo"] for r in report["slos"]}) + 1
    assert "<script src=" not in html


def test_json_to_stdout_keeps_the_table_on_stderr(
    history_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(history_csv, "--json", "-", "--objective", "99", "99.9")) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["variants"] == ["own policy @ 99%", "own policy @ 99.9%"]
    assert "SLO" in captured.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--policy", "nope"), "--policy: unknown policy 'nope'"),
        (("--compare",), "--compare: needs two or more"),
        (("--step", "0m"), "--step"),
        (("--step", "1x"), "--step: invalid duration"),
        (("--objective", "100"), "--objective: 100 is not a percentage"),
        (("--canary", "nobody"), "--canary: no history rows for service 'nobody'"),
        (("--engine-config", "/nonexistent.yaml"), "/nonexistent.yaml: cannot read"),
    ],
)
def test_misuse_is_one_line_and_exit_2(
    history_csv: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    assert main(_args(history_csv, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "yesterday"], "--from: 'yesterday' is not an RFC 3339 time"),
        (["--to", "1"], "--to: must not be before --from"),
        (["--input", "/nonexistent.csv"], "/nonexistent.csv: no such file"),
        (["--prometheus-url", "http://127.0.0.1:9"], "--prometheus-url: http://127.0.0.1:9"),
        (["--prometheus-url", "ftp://x"], "is not an http(s) URL"),
    ],
)
def test_bad_sources_and_times_are_one_line_and_exit_2(
    history_csv: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    args = _args(history_csv)
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        if flag == "--prometheus-url":
            i = args.index("--input")
            del args[i : i + 2]
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) <= 2, err
    assert "Traceback" not in err


def test_the_installed_command_runs(history_csv: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sloengine", *_args(history_csv, "--policy", "fast-slow")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "gateway/requests-availability" in proc.stdout


def test_saved_history_replays_the_same(
    history_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "saved.parquet"
    assert main(_args(history_csv, "--json", "-", "--save-history", str(saved))) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(_args(saved, "--json", "-")) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["slos"] == first["slos"] and again["source"] == str(saved)
