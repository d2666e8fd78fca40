"""Locust wiring: one verdict for the whole run, in every topology.

Importing this module (the locustfile does) registers listeners on locust's events:
- init_command_line_parser: the --loadtest-* options (loadtests/options.py);
- request (every process that runs users): the request goes into this process's IntervalBook;
- report_to_master (workers): the book's new buckets ride along in each stats report;
- worker_report (master): they are merged into the master's book;
- a progress greenlet (master or local runner): one line per interval, and abortOnFail;
- quitting (master or local runner): the verdict, printed as `loadtest: ...` lines, the exit
  code (environment.process_exit_code), the JSON summary and the HTML report's section.
Workers never judge: with `--processes N` or `--master`/`--worker`, only the master prints a
verdict, and its exit code is the run's.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.html import get_html_report
from locust.runners import (
    STATE_CLEANUP,
    STATE_RUNNING,
    STATE_SPAWNING,
    STATE_STOPPED,
    STATE_STOPPING,
    MasterRunner,
    WorkerRunner,
)

from loadtests import options as opts
from loadtests.intervals import IntervalBook
from loadtests.report import SECTION_ID, add_section_to_report, summary_json, thresholds_section
from loadtests.traffic import BASELINE, TrafficSplit
from loadtests.verdict import EXIT_BAD_OPTIONS, RunVerdict, build_verdict

logger = logging.getLogger("loadtests")
WIRE_KEY = "loadtest_intervals"
WARMUP_NAME = "warmup"  # requests so named (connection set-up) are never judged
# A worker's report may lag its requests by locust's report interval (3 s) plus transit.
WORKER_SETTLE_SECONDS = 4.0
SECTION_MARK = f'<section id="{SECTION_ID}">'


class _RunState:
    """This process's view of the current run (reset at every test_start)."""

    def __init__(self) -> None:
        self.settings = opts.Settings()
        self.book = IntervalBook(self.settings.interval_seconds)
        self.started_at_epoch = time.time()
        self.traffic = TrafficSplit("steady")
        self.aborted = ""
        self.progress: gevent.Greenlet | None = None
        self.last_verdict: RunVerdict | None = None
        self.workers_seen: set[str] = set()
        self.final_verdict: RunVerdict | None = None
        self.environment: Environment | None = None

    def start(self, settings: opts.Settings) -> None:
        self.settings = settings
        self.book = IntervalBook(settings.interval_seconds)
        self.started_at_epoch = time.time()
        self.traffic = TrafficSplit(
            settings.profile,
            canary_weight=settings.canary_weight,
            weight_file=settings.canary_weight_file or None,
            steps=settings.rollout_steps,
            pause_seconds=settings.rollout_pause_seconds,
        )
        self.aborted = ""
        self.last_verdict = None
        self.final_verdict = None
        self.workers_seen = set()


STATE = _RunState()


def _say(line: str) -> None:
    print(f"loadtest: {line}", flush=True)


def _workers(environment: Environment) -> int:
    """Workers that reported during this run (they leave the runner's list as they quit)."""
    return len(STATE.workers_seen)


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_: Any) -> None:
    opts.add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    # gevent's loop caches "now" and has not run since locust imported it; on a busy machine
    # the import of the locustfile takes seconds, and `-t` (a timer armed right after this
    # event) would then fire that much early. Refresh the clock so -t 60s means 60 s.
    gevent.get_hub().loop.update_now()
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return  # a worker's options arrive from the master with each run
    try:
        STATE.settings = opts.settings_from(environment.parsed_options)
    except opts.SettingsError as exc:
        print(f"loadtest: invalid options: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_OPTIONS)
    if environment.web_ui is not None:
        _extend_web_ui(environment)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    try:
        settings = opts.settings_from(environment.parsed_options)
    except opts.SettingsError as exc:
        # Only reachable from the web UI's form (the command line was checked at init).
        logger.error("loadtest: invalid options: %s; stopping", exc)
        gevent.spawn_later(0, environment.runner.stop)  # type: ignore[union-attr]
        return
    STATE.start(settings)
    if not isinstance(environment.runner, WorkerRunner):
        _say(f"judging on the master: {settings.describe()}")
        if STATE.progress is None or STATE.progress.dead:
            STATE.progress = gevent.spawn(_progress_loop, environment)


@events.request.add_listener
def _on_request(
    name: str,
    response_time: float,
    exception: BaseException | None,
    context: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    if name == WARMUP_NAME:
        return
    ctx = context or {}
    STATE.book.record(
        name,
        str(ctx.get("variant", BASELINE)),
        str(ctx.get("phase", "")),
        time.time(),
        float(response_time or 0.0),
        exception is not None,
    )


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data[WIRE_KEY] = STATE.book.drain()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    STATE.workers_seen.add(client_id)
    STATE.book.merge_rows(data.get(WIRE_KEY) or [])


def _drain_local(environment: Environment) -> None:
    """A local runner is its own master: its requests go straight into the judged book."""
    if not isinstance(environment.runner, MasterRunner | WorkerRunner):
        STATE.book.merge_rows(STATE.book.drain())


def current_verdict(environment: Environment, final: bool) -> RunVerdict:
    _drain_local(environment)
    settle = WORKER_SETTLE_SECONDS if isinstance(environment.runner, MasterRunner) else 0.0
    return build_verdict(
        STATE.book,
        STATE.settings,
        STATE.started_at_epoch,
        time.time(),
        final=final,
        aborted=STATE.aborted,
        settle_seconds=settle,
    )


def _progress_loop(environment: Environment) -> None:
    """Every interval: one progress line; and abortOnFail thresholds are checked."""
    runner = environment.runner
    assert runner is not None
    while runner.state != STATE_CLEANUP:
        gevent.sleep(STATE.settings.interval_seconds)
        if runner.state not in (STATE_RUNNING, STATE_SPAWNING) or STATE.aborted:
            continue
        verdict = current_verdict(environment, final=False)
        STATE.last_verdict = verdict
        elapsed = time.time() - STATE.started_at_epoch
        _print_progress(verdict, elapsed, _workers(environment))
        reasons = [
            f"{j.endpoint} {r.limit.expression}"
            for j in verdict.judgements
            for r in j.aborting(elapsed)
            if j.intervals_judged
        ]
        if reasons:
            STATE.aborted = "; ".join(reasons)
            _say(f"abortOnFail: {STATE.aborted} failed after {elapsed:.0f}s; ending the run")
            if environment.parsed_options and getattr(
                environment.parsed_options, "headless", False
            ):
                runner.quit()
                return
            runner.stop()


def _print_progress(verdict: RunVerdict, elapsed: float, workers: int) -> None:
    parts = []
    for j in verdict.judgements:
        points = verdict.series.get(j.endpoint) or []
        last = points[-1].stats if points else None
        p95 = last.percentile_ms(0.95) if last else None
        parts.append(
            f"{j.endpoint} p95 {'n/a' if p95 is None else f'{p95:.0f}ms'} "
            f"err {last.error_ratio() if last else 0:.1%}"
            f"{' BREACH' if j.intervals_judged and not j.ok else ''}"
        )
    where = f", {workers} workers" if workers else ""
    phase = next((s.phase for s in reversed(verdict.steps)), "")
    phase_text = f" [{phase}]" if phase else ""
    body = " | ".join(parts) if parts else "warming up"
    print(
        f"loadtest progress {elapsed:4.0f}s{where}{phase_text}: {body}", file=sys.stderr, flush=True
    )


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return  # workers never judge alone
    if isinstance(runner, MasterRunner) and runner.state in (STATE_RUNNING, STATE_SPAWNING):
        # Stopped by a signal rather than -t: tell the workers to quit, which makes each send
        # its last report, and give those a moment to arrive (locust's own quit waits 0.5 s),
        # so the verdict sees every request. The runner itself is left to locust's shutdown.
        runner.send_message("quit")
        gevent.sleep(1.0)
    if STATE.final_verdict is None:  # locust may run its shutdown twice (signal + main)
        STATE.final_verdict = verdict = current_verdict(environment, final=True)
        for line in verdict.lines():
            _say(line)
        _write_json(environment, verdict)
    verdict = STATE.final_verdict
    STATE.last_verdict = verdict
    environment.process_exit_code = verdict.exit_code
    _write_html(environment, verdict)
    STATE.environment = environment


@events.quit.add_listener
def _on_quit(**_: Any) -> None:
    """Fired at the very end of locust's shutdown. When a signal stopped a distributed run,
    locust's main greenlet may write its HTML report after our quitting listener did: add the
    section again if it is missing."""
    if STATE.final_verdict is not None and STATE.environment is not None:
        _write_html(STATE.environment, STATE.final_verdict)


def _write_json(environment: Environment, verdict: RunVerdict) -> None:
    if STATE.settings.json_path:
        path = Path(STATE.settings.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(summary_json(verdict, _workers(environment)))


def _write_html(environment: Environment, verdict: RunVerdict) -> None:
    html_file = getattr(environment.parsed_options, "html_file", None)
    if not html_file:
        return
    if os.path.exists(html_file) and os.path.getmtime(html_file) >= STATE.started_at_epoch:
        with open(html_file, encoding="utf-8") as fh:
            report = fh.read()
        if SECTION_MARK in report:
            return
    else:
        # Stopped by SIGTERM, locust skips its HTML report (or leaves an old run's): write
        # this run's, so the run keeps one.
        report = get_html_report(environment, show_download_link=False)
    with open(html_file, "w", encoding="utf-8") as fh:
        fh.write(add_section_to_report(report, thresholds_section(verdict)))


def _extend_web_ui(environment: Environment) -> None:
    """The web UI: the live verdict as JSON, and the thresholds section in its HTML report."""
    web_ui = environment.web_ui
    assert web_ui is not None and web_ui.app is not None
    app = web_ui.app
    from argparse import Namespace

    from flask import Response, jsonify, request

    @app.route("/loadtest/summary")
    def _summary() -> Response:
        running = environment.runner is not None and environment.runner.state not in (
            STATE_STOPPED,
            STATE_STOPPING,
        )
        verdict = current_verdict(environment, final=not running)
        return Response(summary_json(verdict, _workers(environment)), mimetype="application/json")

    @app.before_request
    def _check_the_form() -> Response | None:
        """A bad --loadtest-* value typed in the start form is refused with the reason,
        as the form shows locust's own errors, instead of starting a run that cannot judge."""
        if request.path != "/swarm" or request.method != "POST":
            return None
        values = dict(vars(environment.parsed_options or Namespace()))
        values.update({k: v for k, v in request.form.items() if k.startswith("loadtest_")})
        try:
            opts.settings_from(Namespace(**values))
        except opts.SettingsError as exc:
            return jsonify({"success": False, "message": str(exc), "host": environment.host})
        return None

    @app.after_request
    def _add_section(response: Response) -> Response:
        if request.path == "/stats/report" and response.mimetype == "text/html":
            verdict = current_verdict(environment, final=True)
            body = add_section_to_report(
                response.get_data(as_text=True), thresholds_section(verdict)
            )
            response.set_data(body)
        return response
