"""Replay errors.

    SloEngineError
     └── ReplayError(ValueError)    bad history input or options: where, and what is wrong

`str(err)` is one line (`where: reason`); the CLI prints it and exits 2.
"""

from __future__ import annotations

from sloengine.errors import SloEngineError

__all__ = ["ReplayError"]


class ReplayError(SloEngineError, ValueError):
    """History or options a replay cannot use; `where` names the file, row, column or flag."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}" if where else reason)
