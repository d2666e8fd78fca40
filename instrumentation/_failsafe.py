"""Failures inside instrumentation are logged, rate-limited, and never reach the request.

Every hook the middleware runs (span start, metrics, logs, user callbacks) goes through
`Failsafe.report` when it raises, so a bug here costs one log line per interval, not a
failed request and not a flooded log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["Failsafe"]

_logger = logging.getLogger("instrumentation")


class Failsafe:
    """Counts failures per hook and logs at most one line per hook per `interval_s`."""

    def __init__(
        self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self.failures: dict[str, int] = {}

    def report(self, hook: str, exc: BaseException) -> None:
        """Record that `hook` raised `exc`; log it unless this hook logged recently."""
        try:
            self.failures[hook] = self.failures.get(hook, 0) + 1
            now = self._clock()
            last = self._last_logged.get(hook)
            if last is not None and now - last < self._interval_s:
                self._suppressed[hook] = self._suppressed.get(hook, 0) + 1
                return
            suppressed = self._suppressed.pop(hook, 0)
            self._last_logged[hook] = now
            _logger.warning(
                "instrumentation hook %s failed (%d similar suppressed): %s: %s",
                hook,
                suppressed,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
        except Exception:  # reporting must never raise either
            pass
