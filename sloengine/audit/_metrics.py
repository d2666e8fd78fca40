"""The audit log's head as metrics, so an outside system keeps it too (Prometheus scrapes it).

`sloengine_audit_head_seq` is the last entry's seq, `sloengine_audit_head_hash52` the first
13 hex digits of its hash as a number (52 bits: exact in a float64 sample; `printf '%x'`
gives the digits back). A log whose tail was cut, together with its head file, no longer
holds the entry Prometheus last saw: `sloengine audit verify --expect-head SEQ:HASH`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["AuditMetrics", "hash52"]


def hash52(digest: str) -> int:
    """The first 13 hex digits of `digest` as an integer (what the gauge exports)."""
    return int(digest[:13], 16)


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.head_seq = Gauge(
            "sloengine_audit_head_seq", "Seq of the audit log's last entry.", registry=registry
        )
        self.head_hash52 = Gauge(
            "sloengine_audit_head_hash52",
            "First 13 hex digits of the audit log's last entry hash, as a number.",
            registry=registry,
        )
        self.chain_breaks = Counter(
            "sloengine_audit_chain_breaks_total",
            "Audit chains found at start not matching their head (tail deleted, head replaced).",
            registry=registry,
        )

    def observe(self, seq: int, digest: str) -> None:
        self.head_seq.set(seq)
        self.head_hash52.set(hash52(digest))
