"""IngestService: serialised batches in, durable submissions or precise rejections out."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine import conventions
from sloengine.ingest import IngestService, Rejection, RejectionKind, Submission
from sloengine.store import DurableStore, PushStatus
from tests.store.streams import SERIES, T0, Sample, push_request
from tests.support.facade import assert_facade

NOW = T0 + 600.0


def _service(durable: DurableStore, max_age: float = 3600.0) -> IngestService:
    return IngestService(
        durable, now=lambda: NOW, max_sample_age_seconds=lambda: max_age, max_future_seconds=60
    )


def _raw(producer: str, sequence: int, *samples: Sample) -> bytes:
    return push_request(producer, sequence, samples).SerializeToString()


def _sample(
    series: int = 0, seconds_ago: float = 10, requests: int = 10, errors: int = 1
) -> Sample:
    return Sample(series, int((NOW - seconds_ago) * 1000), requests, errors, requests)


def _totals(durable: DurableStore) -> tuple[float, float]:
    s = durable.store.window_sum({"service": "gateway"}, 3600, NOW)
    return s.requests, s.errors


def test_the_ingest_facade() -> None:
    assert_facade(
        "sloengine.ingest",
        [
            "MAX_SAMPLE_COUNT",
            "IngestService",
            "PushBatch",
            "Rejection",
            "RejectionKind",
            "SeriesBlock",
            "Submission",
            "WireDecoder",
            "decode_batch",
            "decode_push",
            "decode_wire",
            "decode_wire_many",
            "push_request",
        ],
    )


async def test_a_group_is_submitted_in_order_and_durable_after_the_wait(tmp_path: Path) -> None:
    durable = DurableStore(tmp_path)
    durable.open()
    service = _service(durable)
    results = service.submit_many(
        [
            _raw("a", 1, _sample(0)),
            _raw("b", 7, _sample(1, requests=5, errors=0)),
            _raw("a", 1, _sample(0)),  # a resend within the group
            b"\xff\xff not a push request",
            _raw("c", 1, _sample(2, seconds_ago=7200)),  # older than the age bound
        ]
    )
    first, second, resend, garbage, stale = results
    assert isinstance(first, Submission) and first.outcome.status is PushStatus.ACCEPTED
    assert (first.producer_id, first.sequence, first.outcome.samples) == ("a", 1, 1)
    assert isinstance(second, Submission) and second.ticket > first.ticket
    assert isinstance(resend, Submission) and resend.outcome.duplicate
    assert garbage == Rejection("", 0, RejectionKind.INVALID, "batch: not a PushRequest")
    assert isinstance(stale, Rejection) and stale.kind is RejectionKind.INVALID
    assert (stale.producer_id, stale.sequence) == ("c", 1)
    assert stale.message.startswith("blocks[0].timestamps_unix_ms[0]: ")
    assert "older than the retained 3600 s" in stale.message
    await service.wait_durable(second.ticket, oldest=first.ticket)
    assert _totals(durable) == (15, 1)
    await durable.aclose(snapshot=False)
    # What was submitted is what a restart recovers (the resend once, nothing rejected).
    again = DurableStore(tmp_path)
    assert again.open().records_replayed == 2
    assert _totals(again) == (15, 1)
    again.close()


async def test_the_pipelines_producer_id_is_reserved(tmp_path: Path) -> None:
    durable = DurableStore(tmp_path)
    durable.open()
    (result,) = _service(durable).submit_many(
        [_raw(conventions.PIPELINES_PRODUCER_ID, 1, _sample())]
    )
    assert isinstance(result, Rejection) and result.kind is RejectionKind.INVALID
    assert result.message.startswith("producer_id: reserved")
    assert durable.store.series_count() == 0
    await durable.aclose(snapshot=False)


async def test_a_batch_over_capacity_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    durable = DurableStore(tmp_path, max_series=1)
    durable.open()
    service = _service(durable)
    fits, over = service.submit_many(
        [_raw("a", 1, _sample(0)), _raw("b", 1, _sample(1), _sample(2))]
    )
    assert isinstance(fits, Submission)
    assert isinstance(over, Rejection) and over.kind is RejectionKind.CAPACITY
    assert "max 1" in over.message and (over.producer_id, over.sequence) == ("b", 1)
    assert durable.store.series_count() == 1
    await durable.aclose(snapshot=False)


async def test_push_returns_once_durable(tmp_path: Path) -> None:
    durable = DurableStore(tmp_path)
    durable.open()
    service = _service(durable)
    result = await service.push(_raw("a", 1, _sample()))
    assert isinstance(result, Submission) and durable.wal_flushes >= 1
    again = await service.push(_raw("a", 1, _sample()))
    assert isinstance(again, Submission) and again.outcome.duplicate
    await durable.aclose(snapshot=False)


# Each batch: producer, then per sample (series, seconds ago, requests, errors).
_BATCH = st.tuples(
    st.sampled_from(["a", "b"]),
    st.integers(1, 4),
    st.lists(
        st.tuples(
            st.integers(0, len(SERIES) - 1),
            st.integers(1, 3000),
            st.integers(0, 50),
            st.integers(0, 60),
        ),
        min_size=1,
        max_size=5,
    ),
)


@settings(max_examples=40, deadline=None)
@given(groups=st.lists(st.lists(_BATCH, min_size=1, max_size=6), min_size=1, max_size=4))
def test_the_store_holds_exactly_the_accepted_batches(
    tmp_path_factory: pytest.TempPathFactory,
    groups: list[list[tuple[str, int, list[tuple[int, int, int, int]]]]],
) -> None:
    """Oracle: each (producer, sequence) counted once if every sample of it is valid."""
    import asyncio

    async def run() -> None:
        durable = DurableStore(tmp_path_factory.mktemp("ingest"), fsync=False)
        durable.open()
        service = _service(durable, max_age=1800)
        seen: set[tuple[str, int]] = set()
        expected = {"requests": 0.0, "errors": 0.0}
        for group in groups:
            raws, oracle = [], []
            for producer, seq, rows in group:
                samples = [Sample(s, int((NOW - ago) * 1000), r, e, r) for s, ago, r, e in rows]
                raws.append(_raw(producer, seq, *samples))
                valid = all(e <= r and ago < 1800 for _, ago, r, e in rows)
                oracle.append(((producer, seq), valid, samples))
            results = service.submit_many(raws)
            for (key, valid, samples), result in zip(oracle, results, strict=True):
                if not valid:
                    assert isinstance(result, Rejection), result
                    assert result.kind is RejectionKind.INVALID
                    continue
                assert isinstance(result, Submission)
                assert result.outcome.duplicate == (key in seen)
                if key not in seen:
                    seen.add(key)
                    for s in samples:
                        if SERIES[s.series]["service"] == "gateway":
                            expected["requests"] += s.requests
                            expected["errors"] += s.errors
        assert _totals(durable) == (expected["requests"], expected["errors"])
        await durable.aclose(snapshot=False)

    asyncio.run(run())
