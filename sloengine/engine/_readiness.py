"""Readiness: whether the engine can take traffic now, and if not, why (for `/readyz`)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Readiness"]

# A check returns None when its part is fine, else a one-line reason ("store: disk full").
ReadinessCheck = Callable[[], "str | None"]


class Readiness:
    """Not ready until the wiring says so (`ready = True` once every server listens); then
    ready unless a registered check reports a problem (the first one is named)."""

    def __init__(self) -> None:
        self.ready = False
        self._checks: list[ReadinessCheck] = []

    def add_check(self, check: ReadinessCheck) -> None:
        """A part whose failure makes ingest fail (the store, the pipelines journal)."""
        self._checks.append(check)

    @property
    def checks(self) -> list[ReadinessCheck]:
        return self._checks

    def problem(self) -> str | None:
        """None when ready; else "not ready", or "not ready: <the first check's reason>"."""
        if not self.ready:
            return "not ready"
        for check in self._checks:
            if (reason := check()) is not None:
                return f"not ready: {reason}"
        return None
