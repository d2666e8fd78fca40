"""`sloengine validate` as users run it: exit codes, one line per error, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]


def _validate(*paths: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sloengine", "validate", *map(str, paths)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


def test_valid_examples_print_a_summary_and_exit_zero() -> None:
    result = _validate("examples/slos", cwd=REPO)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("services")
    assert " SLOs across " in result.stdout
    assert result.stderr == ""


def test_errors_from_every_file_are_reported_with_exit_two(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: x\n")
    (tmp_path / "b.yaml").write_bytes(b"\xff\xfe\x00junk")
    (tmp_path / "c.yaml").write_text("slos: [\n")

    result = _validate("a.yaml", "b.yaml", "c.yaml", "missing.yaml", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "a.yaml: slos: missing required field",
        "b.yaml: not UTF-8 text (byte 0)",
        "c.yaml: line 2 column 1: invalid YAML: expected the node content, but found '<stream end>'",
        "missing.yaml: no such file or directory",
        "sloengine validate: 4 errors",
    ]
    assert "Traceback" not in result.stderr


def test_unreadable_directory_entry_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()  # a directory named like a spec, holding nothing

    result = _validate("dir.yaml", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "dir.yaml: directory holds no *.yml or *.yaml files"
    assert "Traceback" not in result.stderr


def test_missing_path_argument_is_a_usage_error() -> None:
    result = _validate(cwd=REPO)

    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr
