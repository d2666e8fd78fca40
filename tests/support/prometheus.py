"""Real Prometheus and Alertmanager (Debian packages) on loopback with temp dirs.

with PrometheusServer(tmp_path, rule_files=[...]) as prom:
    prom.query("up")

The one launcher of both: the tests' fixtures and the demo (`examples/demo`) start them
here, with the same flags and readiness checks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.net import free_port, start_on_free_port, stop_process

PROMETHEUS_BIN = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL_BIN = shutil.which("promtool") or "/usr/bin/promtool"
ALERTMANAGER_BIN = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


class PrometheusServer:
    """A Prometheus process with its own config, data dir and port; stopped on exit."""

    def __init__(
        self,
        workdir: Path,
        rule_files: list[Path] | None = None,
        scrape_configs: list[dict[str, Any]] | None = None,
        alertmanager_url: str | None = None,
        evaluation_interval: str = "15s",
        scrape_interval: str = "15s",
        extra_args: tuple[str, ...] = (),
        *,
        port: int | None = None,
        log_dir: Path | None = None,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.extra_args = extra_args  # e.g. --web.enable-remote-write-receiver
        # `port`: reserved by the caller when others must know it before Prometheus starts.
        self.fixed_port = port is not None
        self.port = port or free_port()
        self.ready_timeout_s = ready_timeout_s
        self.url = f"http://127.0.0.1:{self.port}"
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": scrape_interval,
                "evaluation_interval": evaluation_interval,
            },
            "rule_files": [str(p) for p in (rule_files or [])],
            "scrape_configs": scrape_configs or [],
        }
        if alertmanager_url:
            host = urllib.parse.urlparse(alertmanager_url).netloc
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
        self.config_path = self.workdir / "prometheus.yml"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = (log_dir or self.workdir) / "prometheus.log"

    def add_remote_write(self, url: str, **settings: Any) -> None:
        """Add a `remote_write` target (before `start`); settings as in Prometheus' config."""
        config = yaml.safe_load(self.config_path.read_text())
        config.setdefault("remote_write", []).append({"url": url, **settings})
        self.config_path.write_text(yaml.safe_dump(config))

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        def launch(port: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [
                    PROMETHEUS_BIN,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--web.enable-lifecycle",
                    "--web.enable-admin-api",
                    *self.extra_args,
                ],
                stdout=self.log_path.open("wb"),
                stderr=subprocess.STDOUT,
            )

        try:
            self.proc, self.port = start_on_free_port(
                launch, self.port, "/-/ready", self.log_path, self.ready_timeout_s,
                attempts=1 if self.fixed_port else 3,  # others were told a fixed port
            )
        except RuntimeError as exc:
            raise RuntimeError(f"prometheus did not start: {exc}") from None
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)

    def api(self, path: str, **params: Any) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, time_s: float | None = None) -> Any:
        params: dict[str, Any] = {"query": expr}
        if time_s is not None:
            params["time"] = time_s
        return self.api("query", **params)

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(self.api("rules")["groups"])

    def wait_rules_evaluated(
        self, timeout_s: float = 60, max_interval_s: float = 60
    ) -> list[dict[str, Any]]:
        """Wait until every rule group has been evaluated at least once.

        Groups with a longer `interval` than `max_interval_s` (the 5m period groups) are not
        waited for: Prometheus spreads a group's first evaluation over its whole interval.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            groups = self.rule_groups()
            due = [g for g in groups if float(g.get("interval", 0)) <= max_interval_s]
            if groups and all(g.get("lastEvaluation", "").startswith("20") for g in due):
                return groups
            time.sleep(0.2)
        raise TimeoutError("rule groups not evaluated in time")


class AlertmanagerServer:
    """A prometheus-alertmanager process with the given config file; stopped on exit."""

    def __init__(
        self,
        workdir: Path,
        config_path: Path,
        *,
        log_dir: Path | None = None,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = Path(config_path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = (log_dir or self.workdir) / "alertmanager.log"
        self.ready_timeout_s = ready_timeout_s

    def __enter__(self) -> AlertmanagerServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        def launch(port: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [
                    ALERTMANAGER_BIN,
                    f"--config.file={self.config_path}",
                    f"--storage.path={self.workdir / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",  # no gossip: a single loopback instance
                ],
                stdout=self.log_path.open("wb"),
                stderr=subprocess.STDOUT,
            )

        try:
            self.proc, self.port = start_on_free_port(
                launch, self.port, "/-/ready", self.log_path, self.ready_timeout_s
            )
        except RuntimeError as exc:
            raise RuntimeError(f"alertmanager did not start: {exc}") from None
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        req = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool; the caller asserts on returncode and output."""
    return subprocess.run(
        [PROMTOOL_BIN, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def promtool_test_rules(directory: Path, names: list[str], timeout_s: float) -> dict[str, str]:
    """`promtool test rules` on each file in `directory`, concurrently (each may replay days of
    samples); the combined output of every file that failed, by name."""
    procs = {
        name: subprocess.Popen(
            [PROMTOOL_BIN, "test", "rules", name],
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in names
    }
    failed = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=timeout_s)
        if proc.returncode != 0:
            failed[name] = out
    return failed
