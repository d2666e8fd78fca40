"""A hash-chained, append-only JSON-lines audit log.

Each line is one entry `{seq, time, actor, action, reason, details, prev_hash, hash}` where
`hash` = sha256 of the canonical JSON (sorted keys, no spaces) of the entry without `hash`;
`prev_hash` is the previous entry's hash (64 zeros for the first). Editing, reordering,
inserting or deleting a line breaks the chain at that line.

A chain alone cannot show that its LAST lines were cut off: what is left is still a valid
chain. So every append also rewrites a small head file (`<log>.head`, atomically) holding
the last seq and hash (the *anchor*); `verify` compares the tail against it. Opening a log
whose chain does not reach its anchor (tail deleted while the engine was stopped), or whose
anchor is missing, records the break as an `audit_chain_break` entry (and an ERROR line),
which `verify` reports from then on: the break stays visible however the chain goes on.
Whoever can rewrite both files can still forge a shorter history, so every append is also
published outside them: one INFO line `audit head seq=N hash=H` on the `sloengine.audit`
logger and the `observer` callback (the engine exports it as metrics); `verify
--expect-head N:H` checks a log against a head kept elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sloengine.errors import AuditLogError

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
CHAIN_BREAK = "audit_chain_break"
log = logging.getLogger("sloengine.audit")
_FIELDS = ("seq", "time", "actor", "action", "reason", "details", "prev_hash", "hash")


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

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        observer: Callable[[int, str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._observer = observer
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seq, self._last_hash = -1, GENESIS_HASH
        anchor = _read_anchor(head_path(self.path))
        anchor_in_chain = False
        torn = self._cut_torn_tail()
        try:
            for _line_no, entry in read_entries(self.path):
                self._seq, self._last_hash = int(entry["seq"]), str(entry["hash"])
                if anchor is not None and (self._seq, self._last_hash) == anchor:
                    anchor_in_chain = True
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditLogError(
                f"{self.path}: unreadable entry ({exc}); run `sloengine audit verify {self.path}`"
            ) from None
        #: Why the chain did not match its anchor at open (None: it did). Recorded in the log.
        self.chain_break = self._check_anchor(anchor, anchor_in_chain)
        if self.chain_break is None and isinstance(anchor, tuple) and anchor[0] != self._seq:
            self._write_head()  # the crash window of an append: bring the anchor up to date
        if self.chain_break is not None:
            log.error("audit log %s: %s", self.path, self.chain_break)
            self.append(
                "sloengine",
                CHAIN_BREAK,
                self.chain_break,
                {
                    "log_seq": self._seq,
                    "log_hash": self._last_hash,
                    "head_seq": anchor[0] if isinstance(anchor, tuple) else None,
                    "head_hash": anchor[1] if isinstance(anchor, tuple) else None,
                },
            )
        if torn:
            self.append(
                "sloengine",
                "audit_tail_truncated",
                "a torn last line was cut off at open",
                {"bytes": torn},
            )

    def _check_anchor(self, anchor: tuple[int, str] | str | None, in_chain: bool) -> str | None:
        """Why the chain read at open does not match its anchor (the head file), or None.

        The chain may run one entry past its anchor (a crash between an append's fsync and
        its head rewrite): that is benign when the anchor is an entry of the chain.
        """
        if anchor is None:
            if self._seq < 0:
                return None  # a new log
            return (
                f"{head_path(self.path).name} is missing while the log holds "
                f"{self._seq + 1} entries: entries after seq {self._seq} may have been deleted"
            )
        if isinstance(anchor, str):
            return f"{head_path(self.path).name}: {anchor}"
        if in_chain and self._seq - anchor[0] <= 1:
            return None
        return (
            f"the log ends at seq {self._seq} (hash {self._last_hash[:16]}) but its head "
            f"recorded seq {anchor[0]} (hash {anchor[1][:16]}): entries were deleted "
            "(tail truncated) or the head was replaced"
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
            # Published outside the two files, so a truncation of both is still detectable.
            log.info("audit head seq=%d hash=%s", self._seq, self._last_hash)
            if self._observer is not None:
                self._observer(self._seq, self._last_hash)
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


def _read_anchor(head: Path) -> tuple[int, str] | str | None:
    """(seq, hash) of a head file; None when missing; a reason string when unreadable."""
    try:
        raw = head.read_bytes()
    except FileNotFoundError:
        return None
    try:
        anchor = json.loads(raw)
        return int(anchor["seq"]), str(anchor["hash"])
    except (ValueError, KeyError, TypeError):
        return "unreadable head file"


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


def verify(path: str | Path, *, expect_head: tuple[int, str] | None = None) -> VerifyResult:
    """Check the whole chain (and the head file when present); stop at the first bad line.

    A chain break the engine recorded at open (`audit_chain_break`) fails the check too,
    after the rest of the chain verified. `expect_head` = (seq, hash or a prefix of it), as
    published by the engine elsewhere: the log must hold that entry (catches a truncation
    of both the log and its head file).
    """
    return _verify_chain(Path(path), expect_head)


def _verify_chain(path: Path, expect_head: tuple[int, str] | None) -> VerifyResult:
    prev_hash, expected_seq, count, line_no = GENESIS_HASH, 0, 0, 0
    recorded_break: tuple[int, str] | None = None
    expected_found = expect_head is None
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
            if entry["action"] == CHAIN_BREAK and recorded_break is None:
                recorded_break = (line_no, f"chain break recorded at open: {entry['reason']}")
            if expect_head is not None and entry["seq"] == expect_head[0]:
                if not str(entry["hash"]).startswith(expect_head[1].lower()):
                    why = (
                        f"entry seq {entry['seq']} has hash {entry['hash'][:16]}, not the "
                        f"expected {expect_head[1][:16]} (history rewritten)"
                    )
                    return VerifyResult(False, count, line_no, why, last_hash=entry["hash"])
                expected_found = True
            prev_hash, expected_seq, count = entry["hash"], expected_seq + 1, count + 1
    if not expected_found:
        assert expect_head is not None
        why = (
            f"the log ends at seq {expected_seq - 1} but the expected head is seq "
            f"{expect_head[0]} (tail truncated)"
        )
        return VerifyResult(False, count, line_no + 1, why, last_hash=prev_hash)
    head = head_path(path)
    if recorded_break is not None:
        return VerifyResult(False, count, recorded_break[0], recorded_break[1], last_hash=prev_hash)
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
