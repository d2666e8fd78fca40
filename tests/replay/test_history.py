"""The long format: what it accepts, what it rejects (one line naming file, line and column),
and that window sums over it are plain sums of the rows in `(t - w, t]`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.replay import ReplayError, history_from_frame, read_history, write_history

HEADER = "time,service,variant,revision,route,method,status_class,requests,errors,le_0.5,le_1"


def _csv(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "h.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def test_rfc3339_and_unix_times_read_the_same(tmp_path: Path) -> None:
    a = read_history(_csv(tmp_path, "2026-11-02T10:01:00Z,gw,stable,r1,/s,GET,2xx,10,1,8,9"))
    b = read_history(_csv(tmp_path, "1793613660,gw,stable,r1,/s,GET,2xx,10,1,8,9"))
    assert a.frame["time"].tolist() == b.frame["time"].tolist() == [1793613660.0]
    assert a.bounds_seconds == (0.5, 1.0)
    assert {"le_0.5", "le_1"} <= set(a.frame.columns)


def test_optional_columns_default_to_empty_labels(tmp_path: Path) -> None:
    h = read_history(_csv(tmp_path, "60,gw,5,0", header="time,service,requests,errors"))
    row = h.frame.iloc[0]
    assert row["variant"] == "" and row["route"] == "" and row["requests"] == 5


def test_a_series_without_any_histogram_has_no_latency_data(tmp_path: Path) -> None:
    h = read_history(
        _csv(
            tmp_path,
            "60,gw,stable,,/legacy,GET,2xx,10,0,,",
            "60,gw,stable,,/s,GET,2xx,10,0,9,10",
            "120,gw,stable,,/s,GET,2xx,5,0,,",  # a row without buckets, in a series with them
        )
    )
    by_route = h.frame.groupby("route", observed=True)["latency_requests"].sum()
    assert by_route.to_dict() == {"/legacy": 0.0, "/s": 15.0}
    assert h.frame["le_0.5"].tolist().count(0.0) == 2


@pytest.mark.parametrize(
    ("line", "header", "message"),
    [
        ("yesterday,gw,s,r,/s,GET,2xx,1,0,1,1", HEADER, "line 2: column 'time'"),
        ("60,gw,s,r,/s,GET,2xx,-1,0,0,0", HEADER, "line 2: column 'requests'"),
        ("60,gw,s,r,/s,GET,2xx,abc,0,0,0", HEADER, "line 2: column 'requests'"),
        ("60,gw,s,r,/s,GET,2xx,inf,0,0,0", HEADER, "line 2: column 'requests'"),
        ("60,gw,s,r,/s,GET,2xx,1,2,1,1", HEADER, "line 2: column 'errors': more errors"),
        ("60,gw,s,r,/s,GET,2xx,5,0,4,3", HEADER, "column 'le_1': must not be less"),
        ("60,gw,s,r,/s,GET,2xx,5,0,6,6", HEADER, "column 'le_0.5': more requests"),
        ("60,,s,r,/s,GET,2xx,5,0,1,1", HEADER, "column 'service': must not be empty"),
        ("60,gw,1,0", "time,service,requests,error", "missing column(s): errors"),
        ("60,gw,1,0,0", "time,service,requests,errors,eror", "unknown column 'eror'"),
        ("60,gw,1,0,0", "time,service,requests,errors,le_x", "column 'le_x'"),
        ("60,gw,1,0,0", "time,service,requests,errors,le_0", "column 'le_0'"),
    ],
)
def test_bad_rows_name_the_line_and_column(
    tmp_path: Path, line: str, header: str, message: str
) -> None:
    good = "60,gw,s,r,/s,GET,2xx,1,0,1,1"
    path = _csv(tmp_path, good, line) if header == HEADER else _csv(tmp_path, line, header=header)
    with pytest.raises(ReplayError) as err:
        read_history(path)
    text = str(err.value)
    assert text.startswith(f"{path}: "), text
    assert message.replace("line 2", "line 3") in text, text
    assert "\n" not in text


def test_unreadable_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="no such file"):
        read_history(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ReplayError, match="cannot read"):
        read_history(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ReplayError, match="cannot read"):
        read_history(tmp_path / "bad.parquet")


def test_parquet_and_csv_round_trip_to_the_same_history(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "time": [60.0, 120.0, 120.0],
            "service": ["gw", "gw", "docs"],
            "route": ["/a", "/a", "/b"],
            "requests": [10.0, 20.0, 5.0],
            "errors": [1.0, 0.0, 5.0],
            "le_0.25": [9.0, 20.0, 0.0],
        }
    )
    write_history(frame, tmp_path / "h.parquet")
    write_history(frame, tmp_path / "h.csv")
    a, b = read_history(tmp_path / "h.parquet"), read_history(tmp_path / "h.csv")
    pd.testing.assert_frame_equal(
        a.frame.astype({c: str for c in a.frame.columns if a.frame[c].dtype == "category"}),
        b.frame.astype({c: str for c in b.frame.columns if b.frame[c].dtype == "category"}),
    )


def test_a_selector_label_the_format_lacks_is_an_error() -> None:
    h = history_from_frame(pd.DataFrame({"time": [60], "service": ["gw"], "requests": [1],
                                         "errors": [0]}))  # fmt: skip
    with pytest.raises(ReplayError, match="selector label 'pod'"):
        h.series_ids({"pod": "x"})


rows = st.lists(
    st.tuples(
        st.integers(0, 40),  # time, in 10-second steps
        st.sampled_from(["gw", "docs"]),
        st.sampled_from(["/a", "/b"]),
        st.integers(0, 50),
        st.integers(0, 50),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(rows=rows, at=st.integers(0, 45), window=st.integers(1, 30))
def test_window_sums_are_sums_of_the_rows_in_the_window(
    rows: list[tuple[int, str, str, int, int]], at: int, window: int
) -> None:
    frame = pd.DataFrame(
        [
            {"time": t * 10, "service": s, "route": r, "requests": a + b, "errors": b}
            for t, s, r, a, b in rows
        ]
    )
    h = history_from_frame(frame)
    sums = h.sums({"service": "gw"}, ("requests", "errors"))
    t, w = at * 10.0, window * 10.0
    got = sums.window_sums("errors", np.array([t]), w)[0]
    inside = frame[(frame.service == "gw") & (frame.time > t - w) & (frame.time <= t)]
    assert got == inside["errors"].sum()


def test_a_header_only_file_is_an_empty_history(tmp_path: Path) -> None:
    from sloengine.model import SLO, Catalog, NativeSLI
    from sloengine.replay import ReplayOptions, run_replay

    h = read_history(_csv(tmp_path))
    assert h.frame.empty
    slo = SLO("gw", "a", 0.99, NativeSLI("availability", (("service", "gw"),)))
    (r,) = run_replay(Catalog(slos=(slo,)), h, ReplayOptions(60.0, 600.0)).slos
    assert r.alerts == () and r.requests == 0 and r.budget_remaining_end == 1.0


cells = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "1e300", "nan", "inf", "2026-11-02T10:00:00Z", "x",
                     "\"a,b\"", "9" * 30, "0.5", " 7 ", "2026-13-45", "NaT"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
)  # fmt: skip
headers = st.lists(
    st.sampled_from(["time", "service", "requests", "errors", "le_0.5", "le_1", "variant",
                     "route", "le_x", "extra", "time"]),
    min_size=1, max_size=7,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(header=headers, rows=st.lists(st.lists(cells, min_size=1, max_size=8), max_size=4))
def test_any_csv_is_a_history_or_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, header: list[str], rows: list[list[str]]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "h.csv"
    path.write_text("\n".join([",".join(header), *(",".join(r) for r in rows)]) + "\n")
    try:
        h = read_history(path)
    except ReplayError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    frame = h.frame
    assert np.isfinite(frame["requests"]).all() and (frame["errors"] <= frame["requests"]).all()
    assert ((frame["time"] >= 0) & (frame["time"] <= 253_402_300_799)).all()


def test_a_parquet_timestamp_column_is_read_as_time(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(["2026-11-02T10:01:00Z"], utc=True),
            "service": ["gw"],
            "requests": [3],
            "errors": [1],
        }
    )
    frame.to_parquet(tmp_path / "h.parquet")
    h = read_history(tmp_path / "h.parquet")
    assert h.frame["time"].tolist() == [1793613660.0]
