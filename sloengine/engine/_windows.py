"""One window-source interface for every reader of window sums: the embedded store (push
mode) and a Prometheus-compatible query API (pull mode, `sloengine.pipelines.
PromWindowSource`) both implement it, so push or pull is chosen once, when the engine is
wired, and the readers (the canary judge) never ask which one they hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sloengine.engine._store import StoreHandle
from sloengine.store import WindowSum

__all__ = ["StoreWindows", "WindowSource"]


class WindowSource(Protocol):
    """Sums over the series a selector matches, on the store's 10 s grid."""

    async def prefetch(
        self, selector: Mapping[str, str], longest_window_s: float, at_unix_s: float
    ) -> None:
        """Make every window up to `longest_window_s` at `at_unix_s` readable for `selector`
        (pull mode queries here; the embedded store has everything already)."""
        ...

    def window_sum(
        self, selector: Mapping[str, str], window_seconds: float, at_unix_s: float
    ) -> WindowSum:
        """Requests, errors and latency buckets over `(at - window, at]`."""
        ...

    def has_series(self, selector: Mapping[str, str]) -> bool:
        """Whether any series matches `selector` (for pull mode: among those prefetched)."""
        ...

    async def aclose(self) -> None:
        """Release connections (the engine calls it once, on stop)."""
        ...


class StoreWindows:
    """The embedded store as a WindowSource: reads the store open at each call."""

    def __init__(self, handle: StoreHandle) -> None:
        self._handle = handle

    async def prefetch(
        self, selector: Mapping[str, str], longest_window_s: float, at_unix_s: float
    ) -> None:
        return None  # every pushed sample is in memory already

    def window_sum(
        self, selector: Mapping[str, str], window_seconds: float, at_unix_s: float
    ) -> WindowSum:
        return self._handle.store.window_sum(selector, window_seconds, at_unix_s)

    def has_series(self, selector: Mapping[str, str]) -> bool:
        return self._handle.store.has_series(selector)

    async def aclose(self) -> None:
        return None
