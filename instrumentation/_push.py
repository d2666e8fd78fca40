"""Optional push of RED counters to the engine, through `sloengine.client.EngineClient`.

The app's RED recorder (`sloengine.telemetry.red`) calls `record` for every request it
counts, so /metrics and the engine see the same requests. The client aggregates per series and flushes on its own interval; `record` is O(1) and never
raises or blocks, so the request path pays a dict update. The client starts and stops with
the app's lifespan. A missing or failing client only costs a logged warning.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["ENGINE_TARGET_ENV", "ENGINE_TOKEN_ENV", "EnginePush"]

ENGINE_TARGET_ENV = "SLOENGINE_ENGINE"
ENGINE_TOKEN_ENV = "SLOENGINE_ENGINE_TOKEN"

_logger = logging.getLogger("instrumentation")


class EnginePush:
    """Lifecycle around one EngineClient; `record` is a no-op until `start` succeeded."""

    def __init__(
        self,
        target: str,
        *,
        producer_id: str,
        token: str | None,
        extra_labels: dict[str, str] | None = None,
    ) -> None:
        self.target = target
        self.extra_labels = extra_labels
        self.producer_id = producer_id
        self.token = token
        self.client: Any = None

    async def start(self) -> None:
        try:
            from sloengine.client import EngineClient
        except ImportError as exc:
            _logger.warning("engine push disabled: sloengine.client unavailable (%s)", exc)
            return
        try:
            client = EngineClient(
                target=self.target,
                producer_id=self.producer_id,
                token=self.token,
                extra_labels=self.extra_labels,
            )
            await client.start()
        except Exception as exc:
            _logger.warning("engine push to %s disabled: %s", self.target, exc)
            return
        self.client = client

    def record(
        self,
        service: str,
        variant: str,
        route: str,
        method: str,
        status_code: int,
        duration_s: float,
        revision: str = "",
    ) -> None:
        client = self.client
        if client is not None:
            client.record(service, variant, route, method, status_code, duration_s, revision)

    async def stop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.aclose(timeout_s=5)
            except Exception as exc:
                _logger.warning("engine push to %s: close failed: %s", self.target, exc)


def engine_push_from(
    target: str | None, token: str | None, service: str, variant: str, revision: str | None = None
) -> EnginePush | None:
    """An EnginePush for `target` (else `SLOENGINE_ENGINE`), or None when neither is set."""
    target = target or os.environ.get(ENGINE_TARGET_ENV) or None
    if not target:
        return None
    token = token or os.environ.get(ENGINE_TOKEN_ENV) or None
    producer_id = f"instrumentation-{service}-{variant}-{os.getpid()}"
    labels = {"revision": revision} if revision else None
    return EnginePush(target, producer_id=producer_id, token=token, extra_labels=labels)
