"""The engine's durable store as the services see it: absent until recovered at start."""

from __future__ import annotations

from sloengine.errors import SloEngineError
from sloengine.store import DurableStore, SeriesStore

__all__ = ["IngestLimits", "StoreHandle"]

_DAY_S = 86400.0


class StoreHandle:
    """The open `DurableStore`, or None (before start, after stop). Readers take `store`
    at each use: a recovery after a disk failure replaces the in-memory store."""

    def __init__(self, durable: DurableStore | None = None) -> None:
        self.durable = durable

    @property
    def store(self) -> SeriesStore:
        """The in-memory view of the durable store (read it, never write it directly)."""
        if self.durable is None:
            raise SloEngineError("the store is not open yet")
        return self.durable.store

    def open(self) -> DurableStore:
        """The durable store; SloEngineError when it is not open."""
        if self.durable is None:
            raise SloEngineError("the store is not open yet")
        return self.durable

    def problem(self) -> str | None:
        """A readiness check: the store's failure (every push would fail), if any."""
        failure = self.durable.failure if self.durable is not None else None
        return None if failure is None else f"store: {failure}"


class IngestLimits:
    """Which sample times every receiver accepts, relative to the clock: no older than
    `max_sample_age_seconds` (set at start: the longest window any SLO needs, capped by
    the store's retention) and no further ahead than `max_future_skew_seconds`."""

    def __init__(
        self, max_sample_age_seconds: float = 30 * _DAY_S, max_future_skew_seconds: float = 300.0
    ) -> None:
        self.max_sample_age_seconds = max_sample_age_seconds
        self.max_future_skew_seconds = max_future_skew_seconds
