"""The engine's own metrics, exported on `/metrics` from a registry owned by EngineState.

Every metric lives in an injected CollectorRegistry (never the global one), so tests and
several engines in one process do not share counters.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["EngineMetrics"]

# Ack latency spans sub-millisecond (page cache) to tens of ms (fsync on a busy disk).
_LATENCY_BUCKETS_SECONDS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class EngineMetrics:
    """Ingest counters, series gauge and latency histograms of one engine."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.batches = Counter(
            "sloengine_ingest_batches_total",
            "Pushed batches by outcome (accepted, duplicate, rejected).",
            ["outcome"],
            registry=registry,
        )
        self.batches_accepted = self.batches.labels("accepted")
        self.batches_duplicate = self.batches.labels("duplicate")
        self.batches_rejected = self.batches.labels("rejected")
        self.samples = Counter(
            "sloengine_ingest_samples_total",
            "Samples applied to the store from accepted batches.",
            registry=registry,
        )
        self.rejections = Counter(
            "sloengine_ingest_rejections_total",
            "Rejected batches by gRPC status code name.",
            ["code"],
            registry=registry,
        )
        self.streams = Gauge("sloengine_ingest_streams", "Open Push streams.", registry=registry)
        self.ack_latency = Histogram(
            "sloengine_ingest_ack_latency_seconds",
            "From a batch's arrival to its ack (decode, WAL append, group-committed fsync).",
            buckets=_LATENCY_BUCKETS_SECONDS,
            registry=registry,
        )
        self.wal_fsync_latency = Histogram(
            "sloengine_wal_fsync_latency_seconds",
            "Duration of one write-ahead log fsync (one group commit).",
            buckets=_LATENCY_BUCKETS_SECONDS,
            registry=registry,
        )
        self.series = Gauge(
            "sloengine_store_series", "Series held by the store.", registry=registry
        )
        self.wal_truncations = Counter(
            "sloengine_wal_truncations_total",
            "Torn WAL tails (a write cut by a crash, never acknowledged) truncated at start.",
            registry=registry,
        )
        self.wal_repairs = Counter(
            "sloengine_wal_repairs_total",
            "WAL damage quarantined at start by --repair-wal.",
            registry=registry,
        )
        self.wal_repair_lost_records = Counter(
            "sloengine_wal_repair_lost_records_total",
            "WAL records lost to --repair-wal (quarantined, not replayed).",
            registry=registry,
        )
        self.store_failed = Gauge(
            "sloengine_store_failed",
            "1 while the store refuses batches (WAL write failed, e.g. disk full).",
            registry=registry,
        )
        self.store_recoveries = Counter(
            "sloengine_store_recoveries_total",
            "Store rebuilt from its data dir after a failure, without restart.",
            registry=registry,
        )
        self.ready = Gauge(
            "sloengine_ready", "1 once recovery is done and the engine serves.", registry=registry
        )

    def track_series(self, count: Callable[[], int]) -> None:
        """Read the series gauge from the store at scrape time."""
        self.series.set_function(lambda: float(count()))
