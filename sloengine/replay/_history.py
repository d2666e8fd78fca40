"""History in the replay's long format: one row per series per interval, read into pandas.

    time,service,variant,revision,route,method,status_class,requests,errors,le_0.1,le_0.5
    2026-11-02T10:01:00Z,gateway,stable,7f9c,/search,GET,2xx,974,0,969,974
    2026-11-02T10:01:00Z,gateway,stable,7f9c,/search,GET,5xx,1,1,0,1

- `time`: the END of the interval the counts cover, RFC 3339 or unix seconds. A row counts
  in every window `(t - w, t]` that contains its time, as a pushed sample does.
- `service` (required) and `variant`, `revision`, `route`, `method`, `status_class`
  (optional, empty when absent): the series key; SLO selectors match on them.
- `requests`, `errors` (required): counts in the interval (deltas, not counters);
  `errors` are the requests the producer counted as failed (5xx).
- `le_<seconds>` (optional, any number): requests no slower than the bound, cumulative like
  a Prometheus bucket. An empty cell means "no histogram for this row", which counts like
  the engine's store counts a series that sent none: no request under any bound.

Every problem is a ReplayError naming the file, row (CSV line) and column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sloengine.replay._sums import SeriesSums
from sloengine.replay.errors import ReplayError

__all__ = [
    "COUNT_COLUMNS",
    "INGEST_KEY",
    "LABEL_COLUMNS",
    "LATENCY_REQUESTS",
    "LE_PREFIX",
    "History",
    "SeriesSums",
    "history_from_frame",
    "le_column",
    "read_history",
    "write_history",
]

LABEL_COLUMNS = ("service", "variant", "revision", "route", "method", "status_class")
COUNT_COLUMNS = ("requests", "errors")
LE_PREFIX = "le_"
TIME_COLUMN = "time"
MAX_UNIX_S = 253_402_300_799.0  # 9999-12-31T23:59:59Z: what RFC 3339 can write
# Derived, not read: the requests a latency SLI counts (see _latency_requests).
LATENCY_REQUESTS = "latency_requests"
# The labels of an ingested series (status classes are summed into one series).
INGEST_KEY = ("service", "variant", "revision", "route", "method")
# CSV line of data row i: the header is line 1.
_FIRST_DATA_LINE = 2

F64 = npt.NDArray[np.float64]


def le_column(bound_seconds: float) -> str:
    """The column name of a latency bound: 0.5 -> `le_0.5`, 1.0 -> `le_1`."""
    return f"{LE_PREFIX}{bound_seconds:g}"


@dataclass(frozen=True)
class History:
    """Validated rows sorted by series then time; `bounds_seconds`: the le_ bounds present."""

    frame: pd.DataFrame
    bounds_seconds: tuple[float, ...]
    source: str
    _series: pd.DataFrame = field(repr=False, compare=False)  # one row per series key
    _offsets: npt.NDArray[np.int64] = field(repr=False, compare=False)
    _sums: dict[tuple[Any, ...], SeriesSums] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def time_range_s(self) -> tuple[float, float]:
        times = self.frame[TIME_COLUMN]
        if times.empty:
            return (math.nan, math.nan)
        return (float(times.min()), float(times.max()))

    def series_ids(self, selector: Mapping[str, str]) -> npt.NDArray[np.int64]:
        """Ids of the series whose labels equal every selector label (unknown label: error)."""
        mask = np.ones(len(self._series), dtype=bool)
        for name, value in selector.items():
            if name not in LABEL_COLUMNS:
                raise ReplayError(
                    self.source,
                    f"selector label {name!r} is not a history column"
                    f" (columns: {', '.join(LABEL_COLUMNS)})",
                )
            mask &= (self._series[name] == value).to_numpy()
        return np.flatnonzero(mask).astype(np.int64)

    def rows(self, selector: Mapping[str, str]) -> pd.DataFrame:
        """The rows of every matching series."""
        ids = self.series_ids(selector)
        if len(ids) == 0:
            return self.frame.iloc[0:0]
        parts = [np.arange(self._offsets[i], self._offsets[i + 1]) for i in ids]
        return self.frame.iloc[np.concatenate(parts)]

    def sums(self, selector: Mapping[str, str], columns: tuple[str, ...]) -> SeriesSums:
        """The matching series' columns summed per time, with running totals (memoised:
        an SLO replayed under several policies sums its series once)."""
        key = (tuple(sorted(selector.items())), columns)
        if key not in self._sums:
            self._sums[key] = self._compute_sums(selector, columns)
        return self._sums[key]

    def _compute_sums(self, selector: Mapping[str, str], columns: tuple[str, ...]) -> SeriesSums:
        rows = self.rows(selector)
        times = rows[TIME_COLUMN].to_numpy(dtype=np.float64)
        unique, inverse = np.unique(times, return_inverse=True)
        cumulative = {}
        for col in columns:
            values = rows[col].to_numpy(dtype=np.float64)
            per_time = (
                values
                if len(unique) == len(times) and _sorted(times)
                else np.bincount(inverse, weights=values, minlength=len(unique))
            )
            cumulative[col] = np.concatenate(([0.0], np.cumsum(per_time)))
        return SeriesSums(unique, cumulative)


def _sorted(a: F64) -> bool:
    return bool(np.all(a[1:] > a[:-1]))


def read_history(path: str | Path) -> History:
    """Read a CSV or Parquet (`.parquet`, `.pq`) file in the long format."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ReplayError(source, "no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(
                path,
                dtype={c: str for c in LABEL_COLUMNS},
                keep_default_na=False,
                na_values={c: [""] for c in (*COUNT_COLUMNS, TIME_COLUMN)},
            )
    except ImportError as exc:
        raise ReplayError(source, f"reading Parquet needs pyarrow ({exc})") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReplayError(source, f"cannot read: {first}") from None
    return history_from_frame(frame, source)


def write_history(frame: pd.DataFrame, path: str | Path) -> None:
    """Write rows in the long format (`time` as RFC 3339) to CSV or Parquet by suffix."""
    path = Path(path)
    out = frame.drop(columns=[LATENCY_REQUESTS], errors="ignore")
    out[TIME_COLUMN] = pd.to_datetime(out[TIME_COLUMN], unit="s", utc=True).dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    if path.suffix.lower() in (".parquet", ".pq"):
        out.to_parquet(path, index=False)
    else:
        out.to_csv(path, index=False)


def _where(source: str, row: int | None, column: str) -> str:
    if row is None:
        return f"{source}: column {column!r}"
    return f"{source}: line {row + _FIRST_DATA_LINE}: column {column!r}"


def _first_bad(mask: npt.NDArray[np.bool_]) -> int | None:
    bad = np.flatnonzero(mask)
    return int(bad[0]) if len(bad) else None


def _times(raw: pd.Series[Any], source: str) -> F64:
    """Unix seconds where a cell is a number, RFC 3339 elsewhere (both may be mixed); a
    timestamp column (Parquet's) as it is."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        stamps = pd.to_datetime(raw, utc=True)
        raw = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    seconds = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    text = np.isnan(seconds)
    if text.any():
        cells = raw[text].astype(str)
        parsed = pd.to_datetime(cells, utc=True, format="ISO8601", errors="coerce")
        row = _first_bad(np.isnan(seconds) & ~_mask(raw.index, parsed.notna()))
        if row is not None:
            raise ReplayError(
                _where(source, row, TIME_COLUMN),
                f"{raw.iloc[row]!r} is not an RFC 3339 time or unix seconds",
            )
        seconds[text] = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    row = _first_bad(~np.isfinite(seconds) | (seconds < 0) | (seconds > MAX_UNIX_S))
    if row is not None:
        raise ReplayError(
            _where(source, row, TIME_COLUMN), "must be a time from 1970 to the year 9999"
        )
    return seconds


def _mask(index: pd.Index, part: pd.Series[bool]) -> npt.NDArray[np.bool_]:
    """A boolean over the whole index, True where `part` (a subset) is True."""
    return part.reindex(index, fill_value=False).to_numpy(dtype=bool)


def _counts(raw: pd.Series[Any], source: str, column: str, allow_empty: bool) -> F64:
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values)
    if allow_empty and bad.any():
        # Only the cells that are not numbers need the (slow) string check for emptiness.
        cells = raw[bad]
        empty = cells.isna().to_numpy() | (cells.astype(str).str.strip() == "").to_numpy()
        bad[np.flatnonzero(bad)[empty]] = False
    bad |= np.isinf(values) | (values < 0)
    row = _first_bad(bad)
    if row is not None:
        raise ReplayError(
            _where(source, row, column), f"{raw.iloc[row]!r} is not a finite count >= 0"
        )
    return values


def history_from_frame(frame: pd.DataFrame, source: str = "<frame>") -> History:
    """Validate rows in the long format (any column order) into a History."""
    frame = frame.reset_index(drop=True)
    missing = [c for c in (TIME_COLUMN, "service", *COUNT_COLUMNS) if c not in frame.columns]
    if missing:
        raise ReplayError(source, f"missing column(s): {', '.join(missing)}")
    bounds: dict[str, float] = {}
    for col in frame.columns:
        name = str(col)
        if name in (TIME_COLUMN, *LABEL_COLUMNS, *COUNT_COLUMNS):
            continue
        if not name.startswith(LE_PREFIX):
            raise ReplayError(
                source,
                f"unknown column {name!r}; expected {TIME_COLUMN}, "
                f"{', '.join((*LABEL_COLUMNS, *COUNT_COLUMNS))} or le_<seconds>",
            )
        try:
            bound = float(name[len(LE_PREFIX) :])
        except ValueError:
            bound = math.nan
        if not (math.isfinite(bound) and bound > 0):
            raise ReplayError(
                _where(source, None, name), "le_ columns need a finite bound > 0 in seconds"
            )
        bounds[name] = bound
    out = pd.DataFrame({TIME_COLUMN: _times(frame[TIME_COLUMN], source)})
    for col in LABEL_COLUMNS:
        out[col] = _labels(frame[col]) if col in frame.columns else _labels(None, len(frame))
    if (out["service"] == "").any():
        row = _first_bad((out["service"] == "").to_numpy())
        raise ReplayError(_where(source, row, "service"), "must not be empty")
    for col in COUNT_COLUMNS:
        out[col] = _counts(frame[col], source, col, allow_empty=False)
    row = _first_bad((out["errors"] > out["requests"]).to_numpy())
    if row is not None:
        raise ReplayError(_where(source, row, "errors"), "more errors than requests")
    ordered = sorted(bounds.items(), key=lambda kv: kv[1])
    previous: F64 | None = None
    for name, bound in ordered:
        values = _counts(frame[name], source, name, allow_empty=True)
        values = np.nan_to_num(values, nan=0.0)  # no histogram: nothing under any bound
        row = _first_bad(values > out["requests"].to_numpy())
        if row is not None:
            raise ReplayError(_where(source, row, name), "more requests under it than requests")
        if previous is not None:
            row = _first_bad(values < previous)
            if row is not None:
                raise ReplayError(
                    _where(source, row, name), "must not be less than a smaller bound's count"
                )
        out[le_column(bound)] = values
        previous = values
    return _indexed(out, tuple(b for _, b in ordered), source)


def _labels(values: pd.Series[Any] | None, length: int = 0) -> pd.Categorical:
    """A label column as categories, cells stripped, missing as "" (strings are handled
    once per distinct value, not once per row)."""
    if values is None:
        return pd.Categorical.from_codes(np.zeros(length, dtype=np.int8), categories=[""])
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = pd.Index(uniques).astype(str).str.strip().tolist()
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append("")
    # Stripping may merge two spellings (" a" and "a"): map codes onto distinct names.
    remap, categories = pd.factorize(pd.Index(names))
    return pd.Categorical.from_codes(remap[codes], categories=categories)


def _combined_codes(frame: pd.DataFrame, columns: tuple[str, ...]) -> npt.NDArray[np.int64]:
    """One integer per distinct combination of the categorical `columns`, per row."""
    key = np.zeros(len(frame), dtype=np.int64)
    span = 1
    for col in columns:
        cat = frame[col].cat
        size = max(1, len(cat.categories))
        span *= size
        if span >= 2**62:  # too many combinations to pack: let pandas number them
            return frame.groupby(list(columns), observed=True).ngroup().to_numpy(np.int64)
        key = key * size + cat.codes.to_numpy(np.int64)
    return key


def _indexed(frame: pd.DataFrame, bounds: tuple[float, ...], source: str) -> History:
    """Sort by series then time, remember where each series' rows start, and derive each
    row's `latency_requests`: its requests if its ingest series (the labels without the
    status class) ever counted a request under a bound, else 0. Like the store, a series
    that never sent latency buckets has no latency data, and a latency SLI leaves its
    requests out (`sloengine.maths.bad_events`)."""
    codes = _combined_codes(frame, LABEL_COLUMNS)
    order = np.lexsort((frame[TIME_COLUMN].to_numpy(), codes))
    frame = frame.iloc[order].reset_index(drop=True)
    codes = codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.array([])
    starts = starts.astype(np.int64)
    offsets = np.r_[starts, len(codes)].astype(np.int64)
    les = [le_column(b) for b in bounds]
    if les and len(frame):
        row_has = (frame[les].to_numpy() > 0).any(axis=1)
        series_has = np.maximum.reduceat(row_has, starts)
        _, ingest = np.unique(_combined_codes(frame, INGEST_KEY)[starts], return_inverse=True)
        ingest_has = np.bincount(ingest, weights=series_has.astype(np.float64)) > 0
        rows_have = np.repeat(ingest_has[ingest], np.diff(offsets))
        frame[LATENCY_REQUESTS] = np.where(rows_have, frame["requests"].to_numpy(), 0.0)
    else:
        frame[LATENCY_REQUESTS] = 0.0
    series = frame.iloc[starts][list(LABEL_COLUMNS)].reset_index(drop=True)
    series = series.astype(str)
    return History(frame, bounds, source, series, offsets)
