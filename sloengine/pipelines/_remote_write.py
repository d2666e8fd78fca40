"""Prometheus remote-write 1.0 in: `POST /api/v1/write`, snappy-compressed WriteRequest.

Answers as a Prometheus receiver does, so a real Prometheus' queue behaves well:
- 204 once every counted sample is durable;
- 400 (not retried) for a malformed body, and for samples that were dropped (out of order,
  conflicting duplicates, invalid values or labels, outside the retained time range); the
  request's other samples are counted, like remote-write 2.0's partial writes. A resend of
  samples already counted (same timestamp and value) is normal and answered 204;
- 415 for a remote-write 2.0 message or another compression (Prometheus >= 2.54 then falls
  back to 1.0 when configured with `protobuf_message: prometheus.WriteRequest`);
- 503 (retried) when the journal or the store cannot make the data durable, or before the
  engine is ready.
"""

from __future__ import annotations

import cramjam
from google.protobuf.message import DecodeError

from sloengine.pipelines._convert import SourcePoint
from sloengine.pipelines._receiver import PayloadError
from sloengine.proto.prometheus import remote_pb2

__all__ = ["MAX_DECODED_BYTES", "decode_write_request", "uncompressed_length"]

MAX_DECODED_BYTES = 64 * 1024 * 1024
V1_MESSAGE = "prometheus.WriteRequest"
V2_MESSAGE = "io.prometheus.write.v2.Request"


def uncompressed_length(body: bytes) -> int:
    """The length a snappy block announces in its varint preamble (PayloadError if none)."""
    length = shift = 0
    for i, byte in enumerate(body[:10]):
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return length
        shift += 7
        if i == 9:
            break
    raise PayloadError("body: not a snappy block (no length preamble)")


def decode_write_request(body: bytes) -> tuple[list[SourcePoint], int]:
    """The samples of a snappy-compressed WriteRequest, and how many series had bad labels."""
    size = uncompressed_length(body)
    if size > MAX_DECODED_BYTES:
        raise PayloadError(f"body: decompresses to {size} bytes, over {MAX_DECODED_BYTES}")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise PayloadError(f"body: not snappy block-compressed ({exc})") from None
    try:
        request = remote_pb2.WriteRequest.FromString(raw)
    except DecodeError:
        raise PayloadError("body: not a remote-write 1.0 WriteRequest protobuf") from None
    points: list[SourcePoint] = []
    bad = 0
    for series in request.timeseries:
        pairs = [(label.name, label.value) for label in series.labels]
        names = [n for n, _ in pairs]
        if names != sorted(names):
            pairs.sort()  # the sender should sort them; the id must not depend on it
        sid = "\xff".join(f"{n}\xfe{v}" for n, v in pairs)
        labels = _LABELS.get(sid)
        if labels is None:
            labels = dict(pairs)
            if len(labels) != len(pairs) or not labels.get("__name__"):
                bad += len(series.samples)  # duplicate label names, or no metric name
                continue
            if len(_LABELS) > _MAX_CACHED:
                _LABELS.clear()
            _LABELS[sid] = labels
        for sample in series.samples:
            points.append(SourcePoint(labels, sample.timestamp, sample.value, series=sid))
    return points, bad


# Label dicts by series id: a scrape repeats every series, so most requests build none.
# Shared read-only (the converter never mutates a point's labels).
_LABELS: dict[str, dict[str, str]] = {}
_MAX_CACHED = 200_000
