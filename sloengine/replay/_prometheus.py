"""History from a Prometheus-compatible HTTP API (`/api/v1/query_range`), in bounded chunks.

The raw counters `http_requests_total` and `http_request_duration_seconds_bucket` are read
at every step (each series' latest sample at or before the step, Prometheus' instant
semantics) and differenced here, a reset counting from zero as `increase()` does, but
without `increase()`'s extrapolation: a window's sum is exactly the counter's growth
between its two edges. Rows are per ingest series (statuses summed, errors = the 5xx ones),
with buckets that carry a status label or not. Each chunk covers at most `MAX_POINTS_PER_QUERY` steps, the query
timeout is bounded, and progress goes to a callback (the CLI prints it on stderr).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd

from sloengine import conventions as c
from sloengine.replay._history import INGEST_KEY, History, history_from_frame, le_column
from sloengine.replay.errors import ReplayError

__all__ = ["MAX_POINTS_PER_QUERY", "fetch_history"]

MAX_POINTS_PER_QUERY = 10_000  # Prometheus refuses more than 11,000 points per series
_KEY = ("service", "variant", "revision", "route", "method", "status")
_ERROR_STATUS = re.compile(f"^(?:{c.ERROR_STATUS_REGEX})$")


def _query_range(
    client: httpx.Client, url: str, expr: str, start: float, end: float, step: float
) -> list[dict[str, Any]]:
    try:
        resp = client.get(
            f"{url.rstrip('/')}/api/v1/query_range",
            params={"query": expr, "start": start, "end": end, "step": step},
        )
    except httpx.HTTPError as exc:
        raise ReplayError("--prometheus-url", f"{url}: {type(exc).__name__}: {exc}") from None
    try:
        body = resp.json()
    except ValueError:
        raise ReplayError(
            "--prometheus-url", f"{url}: HTTP {resp.status_code}, not a Prometheus API answer"
        ) from None
    if not isinstance(body, dict):
        raise ReplayError("--prometheus-url", f"{url}: not a Prometheus API answer")
    if resp.status_code != 200 or body.get("status") != "success":
        raise ReplayError("--prometheus-url", f"{url}: {body.get('error', resp.status_code)}")
    result = (body.get("data") or {}).get("result") if isinstance(body.get("data"), dict) else None
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise ReplayError("--prometheus-url", f"{url}: the answer has no matrix result")
    return result


def _deltas(values: list[list[Any]], step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, growth since the previous step) of one series; a drop is a counter reset.

    The first sample of each run of consecutive steps only anchors the differences: with
    no sample the step before, the growth up to it is unknown.
    """
    try:
        pairs = np.array([(float(t), float(v)) for t, v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise ReplayError(
            "--prometheus-url", "a series holds samples that are not numbers"
        ) from None
    pairs = pairs.reshape(-1, 2)
    pairs = pairs[np.isfinite(pairs).all(axis=1)]  # NaN / Inf samples say nothing countable
    times, counts = pairs[:, 0], pairs[:, 1]
    growth = np.diff(counts)
    growth = np.where(growth < 0, counts[1:], growth)
    contiguous = np.isclose(np.diff(times), step_s)
    return times[1:][contiguous], growth[contiguous]


def _frame(results: list[dict[str, Any]], extra: str | None, step_s: float) -> pd.DataFrame:
    frames = []
    for series in results:
        metric = series.get("metric") or {}
        values = series.get("values") or []
        if not isinstance(metric, dict) or not isinstance(values, list):
            raise ReplayError("--prometheus-url", "the answer has a malformed series")
        times, growth = _deltas(values, step_s)
        if not len(times):
            continue
        frame = pd.DataFrame({"time": times, "value": growth})
        for key in (*_KEY, *((extra,) if extra else ())):
            frame[key] = metric.get(key, "")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["time", "value", *_KEY, *((extra,) if extra else ())])
    return pd.concat(frames, ignore_index=True)


def fetch_history(
    url: str,
    first_s: float,
    last_s: float,
    step_s: float,
    *,
    progress: Callable[[str], None] = lambda _: None,
    timeout_s: float = 60.0,
    transport: httpx.BaseTransport | None = None,
) -> History:
    """The RED counters' growth per step over `[first_s, last_s]` as a History."""
    if not url.startswith(("http://", "https://")):
        raise ReplayError("--prometheus-url", f"{url!r} is not an http(s) URL")
    # One extra step before the first: its sample anchors the first difference.
    start = first_s - step_s
    chunk = MAX_POINTS_PER_QUERY * step_s
    edges = []
    while start <= last_s:
        end = min(start + chunk - step_s, last_s)
        edges.append((start, end))
        start = end  # chunks share their edge step, so no difference is lost between them
        if end >= last_s:
            break
    req_frames, bucket_frames = [], []
    with httpx.Client(timeout=timeout_s, transport=transport) as client:
        for n, (lo, hi) in enumerate(edges, start=1):
            progress(f"fetching chunk {n}/{len(edges)} ({hi - lo:g}s of history)")
            req_frames.append(
                _frame(
                    _query_range(client, url, c.HTTP_REQUESTS_TOTAL, lo, hi, step_s), None, step_s
                )
            )
            bucket_frames.append(
                _frame(
                    _query_range(
                        client, url, f"{c.HTTP_REQUEST_DURATION_SECONDS}_bucket", lo, hi, step_s
                    ),
                    "le",
                    step_s,
                )
            )
    requests = pd.concat(req_frames, ignore_index=True)
    buckets = pd.concat(bucket_frames, ignore_index=True)
    return _history(requests, buckets, url)


def _history(requests: pd.DataFrame, buckets: pd.DataFrame, url: str) -> History:
    """One row per ingest series and step: requests over every status, errors the 5xx ones,
    le_ columns from the buckets (with or without a status label) summed the same way."""
    keys = [*INGEST_KEY, "time"]
    status = requests["status"].astype(str)
    requests = requests.assign(
        errors=np.where([bool(_ERROR_STATUS.match(x)) for x in status], requests["value"], 0.0)
    )
    frame = (
        requests.groupby(keys, sort=False)[["value", "errors"]]
        .sum()
        .rename(columns={"value": "requests"})
        .reset_index()
    )
    finite = buckets[buckets["le"] != "+Inf"] if not buckets.empty else buckets
    if not finite.empty:
        finite = finite.assign(le=[le_column(float(x)) for x in finite["le"]])
        wide = finite.pivot_table(index=keys, columns="le", values="value", aggfunc="sum")
        frame = frame.merge(wide.reset_index(), on=keys, how="left")
        les = sorted((c for c in wide.columns), key=lambda c: float(str(c)[3:]))
        # Counters read a hair apart may leave a bucket above the request count.
        for col in les:
            frame[col] = np.minimum(frame[col], frame["requests"])
    frame["status_class"] = ""
    return history_from_frame(frame, url)
