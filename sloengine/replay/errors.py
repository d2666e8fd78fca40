"""Replay errors, defined in the engine's one tree (`sloengine.errors`):

    SloEngineError
     └── ReplayError(ValueError)    bad history input or options: where, and what is wrong

`str(err)` is one line (`where: reason`); the CLI prints it and exits 2.
"""

from __future__ import annotations

from sloengine.errors import ReplayError

__all__ = ["ReplayError"]
