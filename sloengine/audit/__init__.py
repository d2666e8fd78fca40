"""The engine's audit log: who did what, why and when, in a hash chain.

log = AuditLog(data_dir / "audit.jsonl")
log.append("canary", "verdict_changed", "FAIL: error ratio 6.1% ...", {"service": "gateway"})
verify(data_dir / "audit.jsonl").ok
"""

from sloengine.audit._log import (
    GENESIS_HASH,
    AuditLog,
    AuditLogError,
    VerifyResult,
    entry_hash,
    read_entries,
    verify,
)
from sloengine.audit._metrics import AuditMetrics, hash52

__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditLogError",
    "AuditMetrics",
    "VerifyResult",
    "entry_hash",
    "hash52",
    "read_entries",
    "verify",
]
