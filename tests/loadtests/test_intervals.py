"""Worker -> master transport of interval statistics: however requests are split across workers
and report times, the master's merged book equals one book that saw every request."""

from __future__ import annotations

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from loadtests.intervals import IntervalBook

requests = st.lists(
    st.tuples(
        st.sampled_from(["GET /search", "GET /docs/{id}", "POST /ingest"]),
        st.sampled_from(["baseline", "canary"]),
        st.sampled_from(["", "step 1/4 (10%)", "rolled back"]),
        st.floats(min_value=1_700_000_000, max_value=1_700_000_060),
        st.floats(min_value=0, max_value=5000),
        st.booleans(),
        st.integers(min_value=0, max_value=2),  # which worker
        st.booleans(),  # does that worker report right after this request?
    ),
    max_size=80,
)


@given(requests)
def test_master_book_equals_a_single_process_book(reqs: list[tuple]) -> None:
    single = IntervalBook(2.0)
    workers = [IntervalBook(2.0) for _ in range(3)]
    master = IntervalBook(2.0)
    for endpoint, variant, phase, at, latency, failed, worker, report in reqs:
        single.record(endpoint, variant, phase, at, latency, failed)
        workers[worker].record(endpoint, variant, phase, at, latency, failed)
        if report:
            # Through msgpack, as locust's RPC carries it.
            rows = msgpack.loads(msgpack.dumps(workers[worker].drain()))
            master.merge_rows(rows)
    for w in workers:  # the final report on quit
        master.merge_rows(w.drain())
    assert master.buckets.keys() == single.buckets.keys()
    for key, stats in single.buckets.items():
        merged = master.buckets[key]
        assert (merged.histogram_ms, merged.errors) == (stats.histogram_ms, stats.errors)
        assert abs(merged.total_ms - stats.total_ms) < 1e-6 * max(1.0, stats.total_ms)
    assert master.seen == single.seen
    assert master.rejected_rows == 0
    assert all(not w.buckets for w in workers)


def test_buckets_line_up_on_the_wall_clock() -> None:
    book = IntervalBook(5.0)
    book.record("GET /x", "baseline", "", 1000.0, 10, False)
    book.record("GET /x", "baseline", "", 1004.9, 20, True)
    book.record("GET /x", "canary", "", 1005.0, 30, False)
    series = book.endpoint_series(first_index=0)
    assert sorted(series["GET /x"]) == [200, 201]
    assert series["GET /x"][200].requests == 2 and series["GET /x"][200].errors == 1
    assert book.endpoint_series(first_index=201)["GET /x"][201].requests == 1


def test_malformed_rows_are_counted_not_trusted() -> None:
    book = IntervalBook(1.0)
    good = ["GET /x", "baseline", "", 5, [[10, 3]], 1, 30.0, 5.1, 5.9]
    book.merge_rows(
        [
            good,
            "nonsense",
            ["GET /x", "baseline", "", 5, [[10, 3]], 4, 30.0, 5.1, 5.9],  # errors > requests
            ["GET /x", "baseline", "", "5", [[10, 3]], 0, 30.0, 5.1, 5.9],
            ["GET /x", "baseline", "", 5, [[10, -1]], 0, 30.0, 5.1, 5.9],
            ["GET /x", "baseline", "", 5, [[10, 3]], 0, 30.0, 5.9, 5.1],  # time runs backwards
            ["GET /x", "baseline", "", 5, [[10, 3]], 1, 30.0],  # an older worker's row
            ["GET /x", "baseline", ""],
        ]
    )
    assert book.rejected_rows == 7
    assert book.buckets[("GET /x", "baseline", "", 5)].requests == 3


def test_phase_totals_pool_each_variant_per_phase_in_time_order() -> None:
    book = IntervalBook(1.0)
    book.record("a", "canary", "step 2/2 (100%)", 20.0, 10, False)
    book.record("a", "canary", "step 1/2 (50%)", 10.0, 10, True)
    book.record("b", "baseline", "step 1/2 (50%)", 11.0, 10, False)
    totals = [
        (t.phase, t.variant, t.stats.requests, t.stats.errors, t.first_at, t.last_at)
        for t in book.phase_totals()
    ]
    assert totals == [
        ("step 1/2 (50%)", "baseline", 1, 0, 11.0, 11.0),
        ("step 1/2 (50%)", "canary", 1, 1, 10.0, 10.0),
        ("step 2/2 (100%)", "canary", 1, 0, 20.0, 20.0),
    ]
