"""Building remote-write 1.0 requests the way Prometheus sends them (one sample per series)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence

import cramjam

from sloengine.pipelines import STALE_NAN_BITS
from sloengine.proto.prometheus import remote_pb2

STALE_NAN = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}

Sample = tuple[Mapping[str, str], int, float]  # labels, timestamp ms, value


def write_request(samples: Iterable[Sample]) -> bytes:
    req = remote_pb2.WriteRequest()
    for labels, ts_ms, value in samples:
        series = req.timeseries.add()
        for name in sorted(labels):
            series.labels.add(name=name, value=labels[name])
        series.samples.add(value=value, timestamp=ts_ms)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def histogram_scrape(
    labels: Mapping[str, str],
    ts_ms: int,
    cumulative_by_le: Sequence[tuple[str, float]],
    name: str = "http_request_duration_seconds",
) -> list[Sample]:
    """One scrape of a histogram: every bucket (ascending le, +Inf last) at one timestamp."""
    return [
        ({**labels, "__name__": f"{name}_bucket", "le": le}, ts_ms, value)
        for le, value in cumulative_by_le
    ]
