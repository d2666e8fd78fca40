"""`make demo` / `make test` check their Debian packages: a non-root user missing one gets
the exact apt-get command and exit 1 (fake `dpkg` and `id` on PATH; nothing is installed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "system_deps.sh"


def fake_bin(tmp_path: Path, missing: set[str]) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    cases = " ".join(sorted(missing))
    (bin_dir / "dpkg").write_text(
        f'#!/bin/sh\nfor m in {cases}; do [ "$2" = "$m" ] && exit 1; done\nexit 0\n'
    )
    for tool in ("id", "dpkg"):
        (bin_dir / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SKIP_SYSTEM_DEPS": "0"}


def run(target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), target], capture_output=True, text=True, env=env, timeout=30
    )


def test_missing_packages_stop_with_the_exact_command(tmp_path: Path) -> None:
    result = run("demo", fake_bin(tmp_path, {"prometheus-alertmanager"}))
    assert result.returncode == 1
    assert "apt-get install -y --no-install-recommends prometheus-alertmanager" in result.stderr


def test_nothing_missing_passes_quietly(tmp_path: Path) -> None:
    result = run("test", fake_bin(tmp_path, set()))
    assert result.returncode == 0 and result.stderr == ""


def test_makefile_runs_the_check_before_demo_and_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "demo: system-deps-demo $(STAMP)" in makefile
    assert "test: system-deps-test $(STAMP)" in makefile
