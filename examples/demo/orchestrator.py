"""The demo, step by step: every process on loopback, every step printed, everything stopped.

    engine (gRPC + HTTP)  <- sidecars stream RED batches <- gateway baseline / canary
    Prometheus scrapes the sidecars and services, evaluates the generated rules
    Alertmanager routes rollback="true" alerts to the engine's webhook
    locust drives the gateway (canary profile: a share of traffic to the canary)

Then a bad canary is staged (errors + latency): the verdict goes PASS -> FAIL, the canary
guard alert fires and reaches the engine, the rollback hook takes the canary out of traffic,
the load test recovers; finally smoke checks, the audit chain, trace linkage and a summary.
The e2e test runs the same steps with `DemoSettings.fast_profile` and asserts on `DemoReport`.

With `--source prometheus` (`DemoSettings.source`), the engine judges the canary from the
demo's Prometheus (`pipelines.verdict_source: prometheus`) and the sidecars push nothing:
the verdicts come from what Prometheus scraped, by the same maths, in the same sequence.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml

from examples.demo.procs import ProcessGroup, StartError
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.support.net import free_port
from tests.support.prometheus import AlertmanagerServer, PrometheusServer

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
ROUTES = "/search,/ingest,/docs/{id}"
CANARY_REVISION = "gateway-v2"  # what the rollback hook is idempotent on
VERDICT_NAMES = {pb.PASS: "PASS", pb.FAIL: "FAIL", pb.INCONCLUSIVE: "INCONCLUSIVE"}
SOURCES = ("store", "prometheus")


@dataclass(frozen=True)
class DemoSettings:
    """Timings and sizes; the defaults make a demo of about three minutes."""

    work_dir: str = ".demo"
    users: int = 12
    canary_weight: float = 0.5
    healthy_phase_s: float = 40.0
    verdict_short_window_s: int = 30
    verdict_long_window_s: int = 90
    # The guard alert holds this long before firing, so the engine's statistical verdict
    # (which needs ~350 canary requests in the short window) speaks first.
    canary_alert_hold: str = "45s"
    bad_error_ratio: float = 0.25
    bad_added_latency_s: float = 0.25
    fail_timeout_s: float = 120.0
    alert_timeout_s: float = 150.0
    recovery_s: float = 40.0
    scrape_interval: str = "2s"
    step_timeout_s: float = 60.0
    # Where the engine's verdicts read their window counts: "store" (the embedded store, fed
    # by the sidecars' pushes) or "prometheus" (the demo's Prometheus; nothing is pushed).
    source: str = "store"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source: must be one of {', '.join(SOURCES)}, got {self.source!r}")

    @classmethod
    def fast_profile(cls, work_dir: str, source: str = "store") -> DemoSettings:
        """Shorter phases for the e2e test; the same windows, so the same traffic suffices."""
        return cls(work_dir=work_dir, healthy_phase_s=30.0, recovery_s=25.0, source=source)


@dataclass
class DemoReport:
    """What happened, for the summary and for the e2e test's assertions."""

    verdicts: list[tuple[float, str, str]] = field(default_factory=list)
    first_fail_reason: str = ""
    alert_fired: bool = False
    alert_reached_engine: bool = False
    rollback_runs: int = 0
    load_exit_code: int | None = None
    load_summary: list[str] = field(default_factory=list)
    smoke_exit_code: int | None = None
    audit_verified: bool = False
    trace_linkage: str = ""
    errors: list[str] = field(default_factory=list)


class Demo:
    def __init__(self, settings: DemoSettings, out: Callable[[str], None] | None = None) -> None:
        self.s = settings
        self.work = (REPO / settings.work_dir).resolve()
        self.out = out or (lambda line: print(line, flush=True))
        self.report = DemoReport()
        self.t0 = time.monotonic()
        self.procs: ProcessGroup | None = None
        self.prometheus: PrometheusServer | None = None
        self.alertmanager: AlertmanagerServer | None = None
        self.addr: dict[str, str] = {}

    # --- output -----------------------------------------------------------------------------

    def say(self, msg: str) -> None:
        self.out(f"[{time.monotonic() - self.t0:6.1f}s] {msg}")

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> int:
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            self._run_steps()
            ok = self._summary()
            return 0 if ok else 1
        except KeyboardInterrupt:
            self.say("interrupted: stopping everything")
            return 130
        except StartError as exc:
            self.say(f"a process failed to start: {exc}")
            return 1
        finally:
            self._stop_all()
            signal.signal(signal.SIGTERM, previous)
            self.say(f"all processes stopped; logs in {self.work / 'logs'}")

    def _run_steps(self) -> None:
        if self.work.exists():
            shutil.rmtree(self.work)
        (self.work / "logs").mkdir(parents=True)
        self.procs = ProcessGroup(
            self.work / "logs", env={"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        )
        self._prepare_files()
        self._start_engine()
        self._generate()
        self._start_services()
        self._start_prometheus_and_alertmanager()
        self._start_load()
        self._healthy_phase()
        self._stage_bad_canary()
        self._wait_for_fail_alert_and_rollback()
        self._recovery_phase()
        self._smoke()

    # --- steps --------------------------------------------------------------------------------

    def _prepare_files(self) -> None:
        w = self.work
        self.token = secrets.token_hex(16)
        (w / "token").write_text(self.token + "\n")
        (w / "canary-weight").write_text(f"{self.s.canary_weight}\n")
        self.audit_path = w / "audit.jsonl"
        self.spans_path = w / "spans.jsonl"

    def _generate(self) -> None:
        self.say("generating rules, Alertmanager route and dashboards from examples/slos")
        self.say(
            "  (demo policy: burn windows of minutes, not days; canary guards over 30s and 1m)"
        )
        self._check_call(
            [
                PY,
                "-m",
                "sloengine",
                "generate",
                str(REPO / "examples" / "slos"),
                "--policy",
                str(REPO / "examples" / "demo" / "demo-policy.yaml"),
                "--canary-windows",
                "30s,1m",
                "--period-interval",  # budget records every 10s, so dashboards fill quickly
                "10s",
                "--canary-for",
                self.s.canary_alert_hold,
                "--webhook-url",
                f"http://{self.addr['engine_http']}/api/v1/alertmanager",
                "--token-file",
                str(self.work / "token"),
                "--out",
                str(self.work / "gen"),
            ],
            "sloengine generate",
        )

    def _engine_config(self, faults_url: str, prometheus_url: str | None = None) -> dict[str, Any]:
        config = self._engine_config_base(faults_url)
        if self.s.source == "prometheus":
            # Verdicts in pull mode: window counts from the demo's Prometheus (its port is
            # reserved before the engine starts), by the embedded store's maths.
            config["engine"]["prometheus_url"] = prometheus_url
            config["pipelines"] = {"verdict_source": "prometheus"}
        return config

    def _engine_config_base(self, faults_url: str) -> dict[str, Any]:
        return {
            "engine": {
                "data_dir": str(self.work / "engine-data"),
                "specs": [
                    str(REPO / "examples" / "slos"),
                    str(REPO / "examples" / "demo" / "demo-policy.yaml"),
                ],
                "policy": "demo-fast",
                "token_file": str(self.work / "token"),
            },
            "audit": {"path": str(self.audit_path)},
            "canary": {
                "short_window": f"{self.s.verdict_short_window_s}s",
                "long_window": f"{self.s.verdict_long_window_s}s",
                # The SLO-burn guard of a 99.9% SLO needs ~700 canary requests per short
                # window before it may speak (docs/canary.md derives the minimum); a laptop
                # demo sends fewer, so the demo judges on the error and latency guards.
                "defaults": {"guards": ["error_ratio", "latency_p95"]},
                # The verdict is what a controller (Argo Rollouts, Flagger) reads and acts on;
                # here the rollback arrives through the guard alert and Alertmanager, so the
                # demo shows that path end to end and the hook runs exactly once.
                "services": {
                    "gateway": {"rollback_on_fail": False, "guards": ["error_ratio", "latency_p95"]}
                },
            },
            "hooks": {
                "gateway": {
                    "command": [
                        PY,
                        "-m",
                        "examples.demo.rollback_hook",
                        "--weight-file",
                        str(self.work / "canary-weight"),
                        "--faults-url",
                        faults_url,
                        "--service",
                        "{service}",
                        "--revision",
                        "{revision}",
                    ],
                    "timeout": "10s",
                    "retries": 2,
                    "cooldown": "10m",
                }
            },
        }

    def _start_engine(self) -> None:
        assert self.procs
        # The hook must reach the canary's fault knob, whose port the OS picks later: reserve
        # the canary gateway's port now so the engine config is complete from the start.
        self.canary_gateway_port = free_port()
        faults_url = f"http://127.0.0.1:{self.canary_gateway_port}/admin/faults"
        # Likewise Prometheus's port, for the engine's pull-mode verdicts.
        self.prometheus_port = free_port()
        prometheus_url = f"http://127.0.0.1:{self.prometheus_port}"
        config_path = self.work / "engine.yaml"
        config = self._engine_config(faults_url, prometheus_url)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.say(
            "starting the engine (gRPC + HTTP, write-ahead log in the work dir; verdicts from "
            + ("Prometheus, pull mode)" if self.s.source == "prometheus" else "pushed data)")
        )
        engine = self.procs.start(
            "engine",
            [
                PY,
                "-m",
                "sloengine",
                "serve",
                "--config",
                str(config_path),
                "--grpc-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ],
        )
        m = engine.wait_for(r"grpc=(\S+) http=(\S+)", self.s.step_timeout_s)
        self.addr["engine_grpc"], self.addr["engine_http"] = m.group(1), m.group(2)
        self.engine = engine
        self.say(f"engine ready: grpc={m.group(1)} http=http://{m.group(2)}")

    def _start_service(
        self, name: str, module: str, variant: str, args: list[str], port: int = 0
    ) -> str:
        assert self.procs
        child = self.procs.start(
            name,
            [
                PY,
                "-m",
                module,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--variant",
                variant,
                *args,
            ],
            env={"SLOENGINE_SPAN_FILE": str(self.spans_path)},
        )
        m = child.wait_for(r"listening on (http://\S+)", self.s.step_timeout_s)
        return m.group(1)

    def _start_sidecar(self, name: str, upstream: str, variant: str) -> tuple[str, str]:
        assert self.procs
        child = self.procs.start(
            name,
            [
                PY,
                "-m",
                "sidecar",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--upstream",
                upstream,
                "--service",
                "gateway",
                "--variant",
                variant,
                "--routes",
                ROUTES,
                *self._push_args(),
            ],
        )
        m = child.wait_for(r"ingress=(\S+).*admin=(\S+)", self.s.step_timeout_s)
        return f"http://{m.group(1)}", f"http://{m.group(2)}"

    def _push_args(self) -> list[str]:
        """The sidecar's push to the engine; none when the verdicts are pulled from Prometheus."""
        if self.s.source == "prometheus":
            return []
        return [
            "--engine",
            self.addr["engine_grpc"],
            "--engine-token",
            self.token,
            "--flush-interval",
            "1",
        ]

    def _start_services(self) -> None:
        self.say("starting docs-api and ingest (SQLite, seeded fixtures)")
        self.addr["docs"] = self._start_service(
            "docs-api", "examples.services.docs_api", "stable", []
        )
        self.addr["ingest"] = self._start_service(
            "ingest", "examples.services.ingest", "stable", []
        )
        downstream = ["--docs-url", self.addr["docs"], "--ingest-url", self.addr["ingest"]]
        self.say("starting the gateway as baseline and canary, each behind a sidecar")
        for variant in ("baseline", "canary"):
            port = self.canary_gateway_port if variant == "canary" else 0
            self.addr[f"gw_{variant}"] = self._start_service(
                f"gateway-{variant}", "examples.services.gateway", variant, downstream, port
            )
            ingress, admin = self._start_sidecar(
                f"sidecar-{variant}", self.addr[f"gw_{variant}"], variant
            )
            self.addr[f"sc_{variant}"], self.addr[f"sc_{variant}_admin"] = ingress, admin
        for key in ("docs", "ingest", "gw_baseline", "gw_canary", "sc_baseline", "sc_canary"):
            self.say(f"  {key:<12} {self.addr[key]}")

    def _start_prometheus_and_alertmanager(self) -> None:
        gen = self.work / "gen"
        am_config = yaml.safe_load((gen / "alerts" / "alertmanager.yml").read_text())
        _group_quickly(am_config)
        am_path = self.work / "alertmanager.yml"
        am_path.write_text(yaml.safe_dump(am_config, sort_keys=False))
        logs, timeout = self.work / "logs", self.s.step_timeout_s
        self.say('starting Alertmanager (routes rollback="true" to the engine\'s webhook)')
        # The tests' launcher (tests/support/prometheus.py): the same flags and readiness.
        self.alertmanager = AlertmanagerServer(
            self.work / "alertmanager", am_path, log_dir=logs, ready_timeout_s=timeout
        )
        _start(self.alertmanager)
        self.addr["alertmanager"] = self.alertmanager.url
        targets = {
            "sidecars": [self.addr["sc_baseline_admin"], self.addr["sc_canary_admin"]],
            "services": [self.addr["docs"], self.addr["ingest"]],
        }
        self.say("starting Prometheus with the generated rules, scraping sidecars and services")
        self.prometheus = PrometheusServer(
            self.work / "prometheus",
            rule_files=sorted((gen / "alerts").glob("*.rules.yml")),
            scrape_configs=[
                {
                    "job_name": job,
                    "static_configs": [
                        {"targets": [urllib.parse.urlparse(u).netloc for u in urls]}
                    ],
                }
                for job, urls in targets.items()
            ],
            alertmanager_url=self.alertmanager.url,
            evaluation_interval=self.s.scrape_interval,
            scrape_interval=self.s.scrape_interval,
            port=self.prometheus_port,
            log_dir=logs,
            ready_timeout_s=timeout,
        )
        _start(self.prometheus)
        self.addr["prometheus"] = self.prometheus.url
        self.say(
            f"  prometheus   {self.addr['prometheus']}   alertmanager {self.addr['alertmanager']}"
        )

    def _stop_all(self) -> None:
        if self.procs:
            self.procs.stop_all()
        for server in (self.prometheus, self.alertmanager):
            if server is not None:
                server.stop()

    def _start_load(self) -> None:
        assert self.procs
        # At most: the healthy phase (extended until a PASS), the fail and recovery phases.
        total_s = int(self.s.healthy_phase_s + 2 * self.s.fail_timeout_s + self.s.recovery_s + 60)
        self.say(
            f"starting locust: {self.s.users} users, {self.s.canary_weight:.0%} of traffic to the canary, at most {total_s}s"
        )
        self.load = self.procs.start(
            "locust",
            [
                PY,
                "-m",
                "locust",
                "-f",
                str(REPO / "loadtests" / "locustfile.py"),
                "--headless",
                "-H",
                self.addr["sc_baseline"],
                "-u",
                str(self.s.users),
                "-r",
                str(self.s.users),
                "-t",
                f"{total_s}s",
                "--csv",
                str(self.work / "load"),
                "--html",
                str(self.work / "load.html"),
                "--only-summary",
                "--stop-timeout",
                "2",
                # The load test's own options (docs/loadtests.md): the canary profile follows
                # the weight file the rollback hook writes; the verdict is judged on the trend
                # of the last 4 intervals, and also written as JSON.
                "--loadtest-profile",
                "canary",
                "--loadtest-canary-host",
                self.addr["sc_canary"],
                "--loadtest-canary-weight-file",
                str(self.work / "canary-weight"),
                "--loadtest-warmup",
                "5s",
                "--loadtest-interval",
                "5s",
                "--loadtest-last-intervals",
                "4",
                "--loadtest-json",
                str(self.work / "load.json"),
            ],
        )

    # --- verdicts -------------------------------------------------------------------------------

    def verdict(self) -> pb.CanaryVerdict:
        with grpc.insecure_channel(self.addr["engine_grpc"]) as channel:
            stub = pb_grpc.CanaryServiceStub(channel)
            return stub.GetVerdict(
                pb.GetVerdictRequest(
                    service="gateway",
                    canary_variant="canary",
                    baseline_variant="baseline",
                    short_window_seconds=self.s.verdict_short_window_s,
                    long_window_seconds=self.s.verdict_long_window_s,
                    revision=CANARY_REVISION,
                ),
                timeout=5,
                metadata=(("authorization", f"Bearer {self.token}"),),
            )

    def _check_verdict(self) -> str:
        """Ask for the verdict once; print it when it changed; return its name ("" if none)."""
        try:
            v = self.verdict()
        except grpc.RpcError as exc:
            self.say(f"verdict unavailable: {exc.code().name}: {exc.details()}")
            return ""
        name = VERDICT_NAMES.get(v.verdict, "?")
        previous = self.report.verdicts[-1][1] if self.report.verdicts else ""
        self.report.verdicts.append((time.monotonic() - self.t0, name, v.reason))
        if name != previous:
            self.say(f"verdict {name}: {v.reason}")
        if name == "FAIL" and not self.report.first_fail_reason:
            self.report.first_fail_reason = v.reason
        return name

    def _poll_verdict(self, timeout_s: float, every_s: float = 3.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self._check_verdict()
            if time.monotonic() >= deadline:
                return
            time.sleep(every_s)

    def _healthy_phase(self) -> None:
        self.say(f"phase 1: healthy canary for {self.s.healthy_phase_s:.0f}s")
        self._poll_verdict(self.s.healthy_phase_s)
        # The windows fill at the load's pace: on a loaded machine the first PASS can come
        # later. The fault is staged once the healthy canary has passed (bounded).
        deadline = time.monotonic() + self.s.fail_timeout_s
        while "PASS" not in {name for _, name, _ in self.report.verdicts}:
            if time.monotonic() >= deadline:
                self.report.errors.append("the healthy canary never PASSed")
                return
            time.sleep(3)
            self._check_verdict()

    def _stage_bad_canary(self) -> None:
        self.say(
            f"phase 2: staging a bad canary: {self.s.bad_error_ratio:.0%} errors, "
            f"+{self.s.bad_added_latency_s * 1000:.0f} ms"
        )
        body = {
            "error_ratio": self.s.bad_error_ratio,
            "added_latency_s": self.s.bad_added_latency_s,
        }
        _post_json(f"{self.addr['gw_canary']}/admin/faults", body)

    def _wait_for_fail_alert_and_rollback(self) -> None:
        """Watch the three signals together until the loop has closed (or time runs out):
        the engine's verdict, the guard alert in Prometheus, and the alert reaching the engine
        through Alertmanager, which runs the rollback hook."""
        r = self.report
        deadline = time.monotonic() + self.s.fail_timeout_s + self.s.alert_timeout_s
        while time.monotonic() < deadline:
            if not r.first_fail_reason:
                self._check_verdict()
            if not r.alert_fired and self._canary_alert_firing():
                r.alert_fired = True
                self.say('Prometheus: canary guard alert FIRING (rollback="true")')
            if not r.alert_reached_engine and self._audit_actor("alertmanager"):
                r.alert_reached_engine = True
                self.say("engine: Alertmanager delivered the alert; rollback hook triggered")
            r.rollback_runs = self._rollback_runs()
            if r.first_fail_reason and r.alert_reached_engine and r.rollback_runs:
                break
            time.sleep(2)
        if not r.first_fail_reason:
            r.errors.append(
                f"verdict never went FAIL (last {r.verdicts[-1][1] if r.verdicts else '-'})"
            )
        if not r.alert_fired:
            r.errors.append("no canary guard alert was seen firing in Prometheus")
        if not r.alert_reached_engine:
            r.errors.append("Alertmanager did not deliver the alert to the engine")
        time.sleep(2)  # a second trigger (if any) lands in the audit log before we count
        r.rollback_runs = self._rollback_runs()
        weight = (self.work / "canary-weight").read_text().strip()
        self.say(f"rollback hook runs: {r.rollback_runs}; canary traffic weight now {weight}")

    def _recovery_phase(self) -> None:
        assert self.procs
        self.say(
            f"phase 3: recovery; canary out of traffic, load continues for ~{self.s.recovery_s:.0f}s"
        )
        self._poll_verdict(self.s.recovery_s)
        self.say("stopping the load test and judging its last intervals")
        code = self.procs.stop(self.load, grace_s=30)
        out = self.load.output()
        self.report.load_summary = [
            ln[len("loadtest: ") :].rstrip()
            for ln in out.splitlines()
            if ln.startswith("loadtest: ") and not ln.startswith("loadtest: judging on")
        ]
        self.report.load_exit_code = (
            0 if self.report.load_summary[-1:] == ["all thresholds met"] else (code or 1)
        )
        for line in self.report.load_summary:
            self.say(f"  load: {line}")

    def _smoke(self) -> None:
        self.say("post-deploy smoke checks against the baseline (through its sidecar)")
        result = subprocess.run(
            [
                PY,
                "-m",
                "sloengine",
                "smoke",
                self.addr["sc_baseline"],
                "--audit-log",
                str(self.audit_path),
                "--service",
                "gateway",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self.report.smoke_exit_code = result.returncode
        for line in result.stdout.splitlines():
            self.say(f"  {line}")

    # --- summary ---------------------------------------------------------------------------------

    def _summary(self) -> bool:
        r = self.report
        # Stop everything first: services flush their last spans on shutdown, and the audit
        # log is final once the engine has stopped.
        self.say("stopping every process (services flush their last spans)")
        self._stop_all()
        verify = subprocess.run(
            [PY, "-m", "sloengine", "audit", "verify", str(self.audit_path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        r.audit_verified = verify.returncode == 0
        linkage = subprocess.run(
            # The user paths only: the demo's own fault-injection calls are not user requests.
            [PY, "-m", "sloengine", "traces", "linkage", str(self.spans_path), "--routes", ROUTES],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        r.trace_linkage = (linkage.stdout or linkage.stderr).strip()
        self.out("")
        self.out("=" * 78)
        self.out("summary")
        self.out("=" * 78)
        timeline = " -> ".join(_dedupe([name for _, name, _ in r.verdicts]))
        self.out(f"verdicts:        {timeline}")
        self.out(f"FAIL reason:     {r.first_fail_reason or '-'}")
        self.out(
            f"canary alert:    fired={r.alert_fired} delivered to engine={r.alert_reached_engine}"
        )
        self.out(f"rollback hook:   {r.rollback_runs} run(s)")
        self.out(
            f"audit log:       {'verified' if r.audit_verified else 'BROKEN'} ({verify.stdout.strip() or verify.stderr.strip()})"
        )
        self.out(f"trace linkage:   {r.trace_linkage}")
        self.out(f"smoke checks:    {'passed' if r.smoke_exit_code == 0 else 'FAILED'}")
        self.out(f"load test:       exit {r.load_exit_code}")
        for line in r.load_summary[:-1]:
            self.out(f"                 {line}")
        self.out(
            f"dashboards:      import {self.work / 'gen' / 'dashboards'}/*.json into Grafana (committed copies: dashboards/)"
        )
        self.out(
            f"rules:           {self.work / 'gen' / 'alerts'} (load into Prometheus; promtool check rules)"
        )
        for err in r.errors:
            self.out(f"PROBLEM:         {err}")
        self.out("=" * 78)
        return (
            not r.errors and r.audit_verified and r.smoke_exit_code == 0 and r.load_exit_code == 0
        )

    # --- helpers ----------------------------------------------------------------------------------

    def _check_call(self, argv: list[str], what: str) -> None:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        if result.returncode != 0:
            raise StartError(
                f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def _canary_alert_firing(self) -> bool:
        q = urllib.parse.urlencode({"query": 'ALERTS{alertstate="firing",rollback="true"}'})
        try:
            with urllib.request.urlopen(
                f"{self.addr['prometheus']}/api/v1/query?{q}", timeout=5
            ) as resp:
                return bool(json.load(resp)["data"]["result"])
        except (OSError, KeyError, ValueError):
            return False

    def _audit_entries(self) -> list[dict[str, Any]]:
        try:
            lines = self.audit_path.read_text().splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def _audit_actor(self, actor: str) -> bool:
        return any(e.get("actor") == actor for e in self._audit_entries())

    def _rollback_runs(self) -> int:
        """Hook executions that actually ran (not dry-run, not deduplicated), from the audit log."""
        return sum(1 for e in self._audit_entries() if e.get("action") == "rollback_succeeded")


def _group_quickly(config: dict[str, Any]) -> None:
    """Demo speed: Alertmanager sends a new group after 1s instead of the generated 5s/30s."""
    route = config.setdefault("route", {})
    for r in (route, *(route.get("routes") or [])):
        r["group_wait"] = "1s"
        r["group_interval"] = "5s"


def _start(server: PrometheusServer | AlertmanagerServer) -> None:
    try:
        server.start()
    except (RuntimeError, OSError) as exc:  # not ready in time: the message has its log tail
        raise StartError(str(exc)) from None


def _post_json(url: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def _dedupe(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        if not out or out[-1] != n:
            out.append(n)
    return out


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
