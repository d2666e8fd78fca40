"""A week of the demo catalog's traffic in the replay's long format (docs/replay.md).

    python -m examples.replay.demo_history --out demo-history.csv [--days 7] [--seed 1]

The demo's shape (examples/demo): the gateway (`/search`, `/ingest`, `/docs/{id}`) as
`baseline`, docs-api and ingest as `stable`, one row per series, minute and status class,
with latency buckets. What happened that week:

- day 2, 14:00: the gateway answers 3% of requests with 5xx for 40 minutes (a page);
- day 4, 09:00: docs-api fails 1.2% of requests for six hours (a slow burn: a ticket);
- the last 3 hours: revision `gateway-v2` rolls out as `canary` (10% of the gateway's
  traffic); after 90 healthy minutes it fails 25% of `/search` and adds 250 ms, as the
  demo's bad canary does, until the end.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sloengine.replay import le_column, write_history

BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0)
DAY_MINUTES = 1440
START = pd.Timestamp("2026-11-02T00:00:00Z")


@dataclass(frozen=True)
class Series:
    service: str
    variant: str
    revision: str
    route: str
    method: str
    per_minute: float  # mean requests a minute at the daily peak
    latency_s: float  # median latency; log-normal around it


SERIES = (
    Series("gateway", "baseline", "gateway-v1", "/search", "GET", 900, 0.08),
    Series("gateway", "baseline", "gateway-v1", "/ingest", "POST", 300, 0.05),
    Series("gateway", "baseline", "gateway-v1", "/docs/{id}", "GET", 400, 0.06),
    Series("docs-api", "stable", "docs-v7", "/docs/{id}", "GET", 500, 0.12),
    Series("ingest", "stable", "ingest-v3", "/ingest", "POST", 300, 0.03),
)


def _latency_le(rng: np.random.Generator, n: np.ndarray, median_s: np.ndarray) -> np.ndarray:
    """Cumulative counts under each bound for n requests of log-normal latency."""
    from scipy.stats import norm

    out = np.zeros((len(n), len(BOUNDS)))
    for j, bound in enumerate(BOUNDS):
        p = norm.cdf((np.log(bound) - np.log(median_s)) / 0.6)
        out[:, j] = p
    below = rng.binomial(n[:, None].astype(np.int64), out).astype(np.float64)
    return np.maximum.accumulate(below, axis=1)  # keep the counts cumulative


def _rows(
    rng: np.random.Generator, s: Series, minutes: np.ndarray, error_ratio: np.ndarray,
    added_s: np.ndarray, scale: np.ndarray,
) -> list[pd.DataFrame]:  # fmt: skip
    daily = 0.55 + 0.45 * np.sin((minutes % DAY_MINUTES) / DAY_MINUTES * 2 * np.pi - np.pi / 2)
    requests = rng.poisson(s.per_minute * daily * scale).astype(np.float64)
    server = rng.binomial(requests.astype(np.int64), error_ratio).astype(np.float64)
    client = rng.binomial((requests - server).astype(np.int64), 0.02).astype(np.float64)
    ok = requests - server - client
    frames = []
    for status_class, count, latency in (
        ("2xx", ok, s.latency_s + added_s),
        ("4xx", client, np.full(len(minutes), 0.01)),
        ("5xx", server, np.full(len(minutes), 0.02)),
    ):
        keep = count > 0
        le = _latency_le(rng, count[keep], latency[keep])
        frame = pd.DataFrame(
            {
                "time": (START + pd.to_timedelta(minutes[keep] + 1, unit="min")).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "service": s.service,
                "variant": s.variant,
                "revision": s.revision,
                "route": s.route,
                "method": s.method,
                "status_class": status_class,
                "requests": count[keep],
                "errors": count[keep] if status_class == "5xx" else 0.0,
            }
        )
        for j, bound in enumerate(BOUNDS):
            frame[le_column(bound)] = le[:, j]
        frames.append(frame)
    return frames


def demo_history(days: int = 7, seed: int = 1) -> pd.DataFrame:
    """The week described in the module docstring, as rows of the long format."""
    rng = np.random.default_rng(seed)
    total = days * DAY_MINUTES
    minutes = np.arange(total)
    frames: list[pd.DataFrame] = []
    canary_start = total - 180
    canary_bad = canary_start + 90
    for s in SERIES:
        errors = np.full(total, 0.0002)
        added = np.zeros(total)
        if s.service == "gateway":
            start = 1 * DAY_MINUTES + 14 * 60
            errors[start : start + 40] = 0.03
        if s.service == "docs-api":
            start = 3 * DAY_MINUTES + 9 * 60
            errors[start : start + 360] = 0.012
        scale = np.ones(total)
        if s.variant == "baseline":
            scale[canary_start:] = 0.9  # the canary takes a tenth of the gateway's traffic
        frames += _rows(rng, s, minutes, errors, added, scale)
        if s.service == "gateway":
            canary = Series(s.service, "canary", "gateway-v2", s.route, s.method,
                            s.per_minute * 0.1, s.latency_s)  # fmt: skip
            part = minutes[canary_start:]
            bad = part >= canary_bad
            c_errors = np.where(bad & (s.route == "/search"), 0.25, 0.0002)
            c_added = np.where(bad & (s.route == "/search"), 0.25, 0.0)
            frames += _rows(rng, canary, part, c_errors, c_added, np.ones(len(part)))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["time", "service", "variant", "route", "status_class"]).reset_index(
        drop=True
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help=".csv or .parquet")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    frame = demo_history(args.days, args.seed)
    frame["time"] = (pd.to_datetime(frame["time"]) - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    write_history(frame, args.out)
    print(f"{len(frame)} rows, {frame['time'].min():.0f} .. {frame['time'].max():.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
