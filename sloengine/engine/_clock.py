"""The engine's clock: one injectable source of "now" for every service and transport."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock"]


class Clock:
    """Current time in unix seconds. Tests pin it (`Clock(lambda: T)`) or swap `source`
    while the engine runs; everything that asks `now()` sees the change."""

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self.source = source

    def now(self) -> float:
        return self.source()
