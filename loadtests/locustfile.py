"""Load test of the gateway's key paths: GET /search, POST /ingest, GET /docs/{id}.

Run (headless, bounded):
    locust -f loadtests/locustfile.py --headless -H http://127.0.0.1:8000 \
        -u 20 -r 10 -t 60s --csv artifacts/load --html artifacts/load.html

Environment:
    LOADTEST_WARMUP_S            seconds excluded from judging (default 10)
    LOADTEST_INTERVAL_S          report interval length (default 5)
    LOADTEST_LAST_INTERVALS      intervals judged at the end (default 6)
    LOADTEST_P95_LIMIT_S         p95 limit per endpoint (default 1.5)
    LOADTEST_ERROR_RATIO_LIMIT   error ratio limit per endpoint (default 0.01)
    LOADTEST_PROFILE             "steady" (default) or "canary"
    LOADTEST_CANARY_HOST         canary base URL (canary profile)
    LOADTEST_CANARY_WEIGHT       share of requests sent to the canary (default 0.2)
    LOADTEST_CANARY_WEIGHT_FILE  if set, the weight is re-read from this file every second,
                                 so a rollback hook can take the canary out of traffic

The run exits non-zero when a threshold is breached on the trend of the last N intervals,
and prints which endpoint breached what (see loadtests/thresholds.py).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any

from locust import HttpUser, between, events, task
from locust.env import Environment

from loadtests import data
from loadtests.thresholds import IntervalStats, Thresholds, judge_run, summary_lines


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


WARMUP_S = _env_float("LOADTEST_WARMUP_S", 10)
INTERVAL_S = _env_float("LOADTEST_INTERVAL_S", 5)
THRESHOLDS = Thresholds(
    p95_limit_seconds=_env_float("LOADTEST_P95_LIMIT_S", 1.5),
    error_ratio_limit=_env_float("LOADTEST_ERROR_RATIO_LIMIT", 0.01),
    last_intervals=int(_env_float("LOADTEST_LAST_INTERVALS", 6)),
)
PROFILE = os.environ.get("LOADTEST_PROFILE", "steady")
WARMUP_NAME = "warmup"


class _IntervalRecorder:
    """Buckets every request into (endpoint, interval index) after the warm-up."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.intervals: dict[str, dict[int, IntervalStats]] = defaultdict(dict)

    def record(self, name: str, response_time_ms: float, failed: bool) -> None:
        elapsed = time.monotonic() - self.started
        if elapsed < WARMUP_S or name == WARMUP_NAME:
            return
        index = int((elapsed - WARMUP_S) // INTERVAL_S)
        stats = self.intervals[name].setdefault(index, IntervalStats())
        stats.latencies_seconds.append(response_time_ms / 1000.0)
        stats.errors += int(failed)

    def per_endpoint(self) -> dict[str, list[IntervalStats]]:
        # The last interval is usually cut short by the stop: judge complete ones when we can.
        out = {}
        for name, by_index in self.intervals.items():
            ordered = [by_index[i] for i in sorted(by_index)]
            out[name] = ordered[:-1] if len(ordered) > THRESHOLDS.last_intervals else ordered
        return out


_recorder = _IntervalRecorder()


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    global _recorder
    _recorder = _IntervalRecorder()


@events.request.add_listener
def _on_request(name: str, response_time: float, exception: BaseException | None, **_: Any) -> None:
    _recorder.record(name, response_time, exception is not None)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    judgements = judge_run(_recorder.per_endpoint(), THRESHOLDS)
    for line in summary_lines(judgements):
        print(f"loadtest: {line}", flush=True)
    if not judgements or any(not j.ok for j in judgements):
        environment.process_exit_code = 1


class _CanaryWeight:
    """The canary's share of traffic, optionally re-read from a file once a second."""

    def __init__(self) -> None:
        self.path = os.environ.get("LOADTEST_CANARY_WEIGHT_FILE")
        self.value = _env_float("LOADTEST_CANARY_WEIGHT", 0.2)
        self.read_at = 0.0

    def get(self) -> float:
        now = time.monotonic()
        if self.path and now - self.read_at >= 1.0:
            self.read_at = now
            try:
                with open(self.path) as fh:
                    self.value = min(1.0, max(0.0, float(fh.read().strip() or 0)))
            except (OSError, ValueError):
                pass  # keep the last good weight: a half-written file must not break the run
        return self.value


_canary_weight = _CanaryWeight()


class GatewayUser(HttpUser):
    """A user of the gateway: mostly searches and reads, some ingests."""

    wait_time = between(0.05, 0.2)
    _instances = 0

    def on_start(self) -> None:
        GatewayUser._instances += 1
        self.rng = data.rng(GatewayUser._instances)
        self.canary_host = os.environ.get("LOADTEST_CANARY_HOST", "").rstrip("/")
        # Warm-up: touch every path once so connection set-up is not judged.
        for path in ("/search?q=warmup", "/docs/1"):
            self.client.get(path, name=WARMUP_NAME)

    def _url(self, path: str) -> str:
        """The URL for this request under the active profile.

        Requests are named by endpoint only, whichever variant serves them: thresholds are
        about what users see, and once a rollback takes the canary out of traffic the
        endpoint's recent trend must be able to recover.
        """
        if PROFILE == "canary" and self.canary_host and self.rng.random() < _canary_weight.get():
            return self.canary_host + path
        return path

    @task(5)
    def search(self) -> None:
        self.client.get(
            self._url(f"/search?q={self.rng.choice(data.SEARCH_TERMS)}"), name="GET /search"
        )

    @task(3)
    def read_doc(self) -> None:
        doc_id = self.rng.choice(data.DOC_ID_RANGE)
        self.client.get(self._url(f"/docs/{doc_id}"), name="GET /docs/{id}")

    @task(1)
    def ingest(self) -> None:
        payload = data.ingest_payload(self.rng)
        self.client.post(self._url("/ingest"), json=payload, name="POST /ingest")
