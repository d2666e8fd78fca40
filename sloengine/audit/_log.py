"""A hash-chained, append-only JSON-lines audit log.

Each line is one entry `{seq, time, actor, action, reason, details, prev_hash, hash}` where
`hash` = sha256 of the canonical JSON (sorted keys, no spaces) of the entry without `hash`;
`prev_hash` is the previous entry's hash (64 zeros for the first). Editing, reordering,
inserting or deleting a line breaks the chain at that line.

A chain alone cannot show that its LAST lines were cut off: what is left is still a valid
chain. So every append also rewrites a small head file (`<log>.head`, atomically) holding
the last seq and hash; `verify` compares the tail against it. Whoever can rewrite both files
can still forge a shorter history: ship the head hash somewhere else (it is in every append
result) when that matters.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sloengine.errors import SloEngineError

__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditLogError",
    "VerifyResult",
    "entry_hash",
    "read_entries",
    "verify",
]

GENESIS_HASH = "0" * 64
_FIELDS = ("seq", "time", "actor", "action", "reason", "details", "prev_hash", "hash")


class AuditLogError(SloEngineError):
    """The audit log cannot be extended: an entry in it is unreadable."""


def _canonical(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of `entry` without its `hash` field."""
    return hashlib.sha256(_canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AuditLog:
    """Append entries to the log at `path` (created with its directory when missing).

    Thread-safe; each append is written and fsynced before it returns. Opening an existing
    log continues its chain from the last line. A torn last line (a crash inside an append,
    which therefore never returned) is cut off and the cut is recorded as the first new
    entry; any other unreadable line is an AuditLogError: the chain is not extended blindly.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seq, self._last_hash = -1, GENESIS_HASH
        torn = self._cut_torn_tail()
        try:
            for _line_no, entry in read_entries(self.path):
                self._seq, self._last_hash = int(entry["seq"]), str(entry["hash"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditLogError(
                f"{self.path}: unreadable entry ({exc}); run `sloengine audit verify {self.path}`"
            ) from None
        if torn:
            self.append(
                "sloengine",
                "audit_tail_truncated",
                "a torn last line was cut off at open",
                {"bytes": torn},
            )

    def _cut_torn_tail(self) -> int:
        """Truncate an unterminated last line; return how many bytes were cut."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        with self.path.open("r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return len(data) - keep

    @property
    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last entry; (-1, GENESIS_HASH) for an empty log."""
        return self._seq, self._last_hash

    def append(
        self, actor: str, action: str, reason: str, details: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Write one entry (who, what, why; `time` is now) and return it with its hash."""
        with self._lock:
            entry: dict[str, Any] = {
                "seq": self._seq + 1,
                "time": round(self._clock(), 6),
                "actor": actor,
                "action": action,
                "reason": reason,
                "details": dict(details or {}),
                "prev_hash": self._last_hash,
            }
            # Round-trip through JSON so the hash covers exactly what a reader will parse.
            entry = json.loads(_canonical(entry))
            entry["hash"] = entry_hash(entry)
            line = _canonical(entry) + b"\n"
            with self.path.open("ab") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self._seq, self._last_hash = entry["seq"], entry["hash"]
            self._write_head()
            return entry

    def _write_head(self) -> None:
        head = head_path(self.path)
        tmp = head.with_name(head.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(_canonical({"seq": self._seq, "hash": self._last_hash}) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, head)
        _fsync_dir(self.path.parent)


def read_entries(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, entry) for every line; a missing file has no entries."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            yield line_no, json.loads(raw)


@dataclass(frozen=True)
class VerifyResult:
    """`ok`, the number of good entries, and for a broken log the first bad line and why."""

    ok: bool
    entries: int
    line: int | None = None
    reason: str = ""
    head_checked: bool = False
    last_hash: str = GENESIS_HASH


def verify(path: str | Path) -> VerifyResult:
    """Check the whole chain (and the head file when present); stop at the first bad line."""
    path = Path(path)
    prev_hash, expected_seq, count, line_no = GENESIS_HASH, 0, 0, 0
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                return VerifyResult(
                    False, count, line_no, "empty line inserted", last_hash=prev_hash
                )
            try:
                entry = json.loads(raw)
            except ValueError:
                return VerifyResult(False, count, line_no, "not valid JSON", last_hash=prev_hash)
            if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
                why = f"fields must be exactly {', '.join(_FIELDS)}"
                return VerifyResult(False, count, line_no, why, last_hash=prev_hash)
            if entry["hash"] != entry_hash(entry):
                why = "hash does not match the entry's content (edited)"
                return VerifyResult(False, count, line_no, why, last_hash=prev_hash)
            if entry["prev_hash"] != prev_hash:
                why = "prev_hash does not match the previous line (lines deleted, inserted or reordered)"
                return VerifyResult(False, count, line_no, why, last_hash=prev_hash)
            if entry["seq"] != expected_seq:
                why = f"seq {entry['seq']} where {expected_seq} was expected"
                return VerifyResult(False, count, line_no, why, last_hash=prev_hash)
            prev_hash, expected_seq, count = entry["hash"], expected_seq + 1, count + 1
    head = head_path(path)
    if not head.exists():
        return VerifyResult(True, count, last_hash=prev_hash)
    try:
        anchor = json.loads(head.read_bytes())
        head_seq, head_hash = int(anchor["seq"]), str(anchor["hash"])
    except (ValueError, KeyError, TypeError):
        return VerifyResult(False, count, None, f"{head.name}: unreadable", last_hash=prev_hash)
    if (head_seq, head_hash) != (expected_seq - 1, prev_hash):
        why = (
            f"the log ends at seq {expected_seq - 1} but {head.name} records seq {head_seq}"
            " (tail truncated or head stale)"
        )
        return VerifyResult(False, count, line_no + 1, why, True, prev_hash)
    return VerifyResult(True, count, head_checked=True, last_hash=prev_hash)
