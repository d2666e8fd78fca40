"""Read the audit log for the UI: its entries and the chain's verification, cached by file state.

The log is append-only JSON lines (`sloengine.audit`); the UI polls it every couple of
seconds, so the parse and the hash-chain check are redone only when the log or its head
file changed. A tampered line is still shown (the verification says which line is bad);
a line that is not JSON is skipped here and reported by the verification.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sloengine.audit import verify

__all__ = ["AuditReader", "AuditSnapshot"]


@dataclass(frozen=True)
class AuditSnapshot:
    """Entries (oldest first) and the verification of the whole chain."""

    path: str | None
    entries: tuple[dict[str, Any], ...] = ()
    verification: dict[str, Any] = field(default_factory=dict)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _read(path: Path) -> tuple[dict[str, Any], ...]:
    entries: list[dict[str, Any]] = []
    try:
        with path.open("rb") as f:
            for raw in f:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    entries.append(entry)
    except FileNotFoundError:
        return ()
    return tuple(entries)


def _verify(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"ok": True, "entries": 0, "line": None, "reason": "", "head_checked": False}
    try:
        result = verify(path)
    except OSError as exc:
        return {"ok": False, "entries": 0, "line": None, "reason": f"cannot read: {exc.strerror}"}
    return {
        "ok": result.ok,
        "entries": result.entries,
        "line": result.line,
        "reason": result.reason,
        "head_checked": result.head_checked,
        "last_hash": result.last_hash,
    }


class AuditReader:
    """Snapshots of one audit log; `path` None means the engine keeps no audit log."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._key: tuple[Any, ...] | None = None
        self._snapshot = AuditSnapshot(str(path) if path is not None else None)

    def snapshot(self) -> AuditSnapshot:
        """The current entries and verification (re-read only when the files changed)."""
        if self.path is None:
            return self._snapshot
        head = self.path.with_name(self.path.name + ".head")
        key = (_stat(self.path), _stat(head))
        if key != self._key:
            self._snapshot = AuditSnapshot(str(self.path), _read(self.path), _verify(self.path))
            self._key = key
        return self._snapshot
