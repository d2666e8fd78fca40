"""Waiting for a condition, not for a time: tests on a loaded machine stay deterministic.

The timeout only bounds a hang (a bug); a slow machine just waits longer. So it is generous,
and a test must never rely on it passing to see the condition false."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

HANG_S = 60.0


async def until(predicate: Callable[[], object], what: str, timeout_s: float = HANG_S) -> None:
    """Poll `predicate` on the event loop until it is true; TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached in {timeout_s:g}s")
        await asyncio.sleep(0.02)


def wait_until(predicate: Callable[[], object], what: str, timeout_s: float = HANG_S) -> None:
    """`until` for synchronous tests (blocks the calling thread)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached in {timeout_s:g}s")
        time.sleep(0.02)
