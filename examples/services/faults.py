"""Fault knobs for staging a bad canary: an error ratio and added latency, seeded.

Handlers call `Faults.apply()` after doing their work (the downstream call, the query), as
a regression in new code would fail: the error is counted under the real route template
(`/search`) and the request's trace still covers gateway -> service -> DB.
Set at start from the environment (`DEMO_ERROR_RATIO`, `DEMO_ADDED_LATENCY_S`,
`DEMO_FAULT_SEED`) or flags, and changed at run time with `POST /admin/faults`
(JSON `{"error_ratio": 0.2, "added_latency_s": 0.5}`; partial updates allowed). The admin
endpoint requires `Authorization: Bearer $DEMO_ADMIN_TOKEN` when a token is configured,
else it answers only loopback clients.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import random
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request

__all__ = ["FaultConfig", "Faults", "admin_router"]

MAX_ADDED_LATENCY_S = 60.0


@dataclass(frozen=True)
class FaultConfig:
    """What to inject: the share of requests answered 500, and latency added to every one."""

    error_ratio: float = 0.0
    added_latency_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_ratio <= 1.0:
            raise ValueError(f"error_ratio: must be within [0, 1], got {self.error_ratio}")
        if not 0.0 <= self.added_latency_s <= MAX_ADDED_LATENCY_S:
            raise ValueError(
                f"added_latency_s: must be within [0, {MAX_ADDED_LATENCY_S:g}], "
                f"got {self.added_latency_s}"
            )


class Faults:
    """The current fault config and the seeded random stream that decides which requests fail."""

    def __init__(self, config: FaultConfig | None = None, seed: int = 0) -> None:
        self.config = config or FaultConfig()
        self._rng = random.Random(seed)
        self.injected_errors = 0

    def update(self, **changes: Any) -> FaultConfig:
        """Replace some fields (validated); returns the new config."""
        current = {
            "error_ratio": self.config.error_ratio,
            "added_latency_s": self.config.added_latency_s,
        }
        unknown = set(changes) - set(current)
        if unknown:
            raise ValueError(
                f"{sorted(unknown)[0]}: unknown field (use error_ratio, added_latency_s)"
            )
        for key, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key}: must be a number, got {value!r}")
            current[key] = float(value)
        self.config = FaultConfig(**current)
        return self.config

    def should_fail(self) -> bool:
        """Draw from the seeded stream: True for about `error_ratio` of calls."""
        ratio = self.config.error_ratio
        return ratio > 0.0 and self._rng.random() < ratio

    async def apply(self) -> None:
        """Sleep the added latency, then maybe fail with a 500 (HTTPException)."""
        config = self.config
        if config.added_latency_s > 0:
            await asyncio.sleep(config.added_latency_s)
        if self.should_fail():
            self.injected_errors += 1
            raise HTTPException(status_code=500, detail="injected fault")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def admin_router(faults: Faults, token: str | None) -> APIRouter:
    """`GET|POST /admin/faults`, token-protected (or loopback-only without a token)."""
    router = APIRouter()

    def authorize(request: Request) -> None:
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise HTTPException(status_code=401, detail="missing or wrong bearer token")
        elif not _is_loopback(request.client.host if request.client else None):
            raise HTTPException(status_code=403, detail="admin endpoint answers loopback only")

    def as_dict() -> dict[str, Any]:
        return {
            "error_ratio": faults.config.error_ratio,
            "added_latency_s": faults.config.added_latency_s,
            "injected_errors": faults.injected_errors,
        }

    @router.get("/admin/faults")
    async def get_faults(request: Request) -> dict[str, Any]:
        authorize(request)
        return as_dict()

    @router.post("/admin/faults")
    async def set_faults(request: Request) -> dict[str, Any]:
        authorize(request)
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(status_code=400, detail="body: not valid JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(status_code=400, detail="body: must be a JSON object")
        try:
            faults.update(**body)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return as_dict()

    return router
