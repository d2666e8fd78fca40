"""Errors of the canary adapters, defined in the engine's one tree (`sloengine.errors`):

SloEngineError
 ├── RequestError(ValueError)
 │    └── CanaryRequestError         -> INVALID_ARGUMENT (gRPC) / 400 (HTTP)
 └── CanaryNotFoundError(LookupError) -> NOT_FOUND (gRPC) / 404 (HTTP)
"""

from __future__ import annotations

from sloengine.errors import CanaryNotFoundError, CanaryRequestError

__all__ = ["CanaryNotFoundError", "CanaryRequestError"]
