"""`pip install 'sloengine[instrumentation]'` in a fresh venv: what a service team gets.

One test, because building the venv is the expensive part (pip's cache keeps it to tens of
seconds): the extra pulls no locust, pandas or scipy; `import instrumentation` and
`sloengine.client` import none of them either; the core CLI validates and generates the
example catalog; and the instrumented demo service (docs-api) runs from that venv and answers
/health, a request and /metrics.

The sources are copied to a temp dir first so the build leaves nothing in the checkout, and
the service runs from another temp dir so the installed packages, not the checkout, are what
it imports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.net import wait_http_ok

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTED = ("sloengine", "sidecar", "instrumentation")
# Distributions the instrumentation extra must not pull (they belong to loadtest, replay and
# server): a service adding the instrumentation should not install a load tester or a
# dataframe library.
FORBIDDEN = ("locust", "pandas", "scipy", "pyarrow", "plotly", "aiohttp")
FORBIDDEN_MODULES = ("locust", "pandas", "scipy")

pytestmark = [pytest.mark.packaging, pytest.mark.integration, pytest.mark.timeout(600)]


def _copy_sources(dest: Path) -> Path:
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for package in DISTRIBUTED:
        shutil.copytree(REPO / package, dest / package, ignore=ignore)
    return dest


def _run(argv: list[str], cwd: Path, timeout_s: float = 540) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)
    assert proc.returncode == 0, f"{argv} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("packaging")
    src = _copy_sources(base / "src")
    root = base / "venv"
    # Without its own pip: this interpreter's pip installs into it (`pip --python`), which
    # saves bootstrapping one.
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], cwd=base)
    _pip(root, ["install", "--quiet", f"{src}[instrumentation]"], cwd=base)
    return root


def _pip(venv: Path, args: list[str], cwd: Path) -> str:
    return _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *args],
                cwd=cwd)  # fmt: skip


def _installed(venv: Path, cwd: Path) -> set[str]:
    out = _pip(venv, ["list", "--format=json"], cwd=cwd)
    return {re.sub(r"[-_.]+", "-", d["name"]).lower() for d in json.loads(out)}


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return int(resp.status), resp.read().decode()


def test_instrumentation_extra_is_light_and_runs_the_demo_service(
    venv: Path, tmp_path: Path
) -> None:
    python = venv / "bin" / "python"
    installed = _installed(venv, tmp_path)
    assert {"sloengine", "fastapi", "uvicorn", "opentelemetry-sdk", "prometheus-client"} <= (
        installed
    )
    assert not installed & set(FORBIDDEN), sorted(installed & set(FORBIDDEN))

    # Importing the facades loads none of the heavy libraries, and loads them from the venv.
    probe = (
        "import sys, instrumentation, sloengine.client, sloengine.specs, sloengine.generate\n"
        f"heavy = [m for m in {FORBIDDEN_MODULES!r} if m in sys.modules]\n"
        "print(instrumentation.__file__, heavy)\n"
    )
    where, heavy = _run([str(python), "-c", probe], cwd=tmp_path).rsplit(" ", 1)
    assert where.startswith(str(venv)), where
    assert heavy.strip() == "[]"

    # The core CLI: validate and generate the example catalog without the server extra.
    cli = str(venv / "bin" / "sloengine")
    _run([cli, "validate", str(REPO / "examples" / "slos")], cwd=tmp_path)
    _run([cli, "generate", str(REPO / "examples" / "slos"), "--out", str(tmp_path / "gen")],
         cwd=tmp_path)  # fmt: skip
    assert list((tmp_path / "gen" / "alerts").glob("*.rules.yml"))
    assert list((tmp_path / "gen" / "dashboards").glob("*.json"))

    # The demo service, with only the installed packages (examples/ is not distributed).
    app_dir = tmp_path / "app" / "examples"
    app_dir.mkdir(parents=True)
    shutil.copy2(REPO / "examples" / "__init__.py", app_dir / "__init__.py")
    shutil.copytree(
        REPO / "examples" / "services", app_dir / "services",
        ignore=shutil.ignore_patterns("__pycache__"),
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    log = tmp_path / "docs-api.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [str(python), "-m", "examples.services.docs_api", "--host", "127.0.0.1",
             "--port", "0", "--db", str(tmp_path / "docs.sqlite")],
            cwd=tmp_path / "app", env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"listening on (http://\S+)", line)
            assert match, f"docs-api did not start: {line!r}\n{log.read_text()}"
            url = match.group(1)
            wait_http_ok(f"{url}/health")
            status, body = _get(f"{url}/docs/1")
            assert status == 200 and json.loads(body)["id"] == 1
            status, metrics = _get(f"{url}/metrics")
            assert status == 200
            assert re.search(
                r'http_requests_total\{[^}]*route="/docs/\{id\}"[^}]*status="200"[^}]*\} 1\.0',
                metrics,
            ), metrics
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
