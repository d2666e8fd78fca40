"""Errors of the canary adapters: a bad verdict request names the field that is wrong.

SloEngineError
 ├── RequestError(ValueError)
 │    └── CanaryRequestError         -> INVALID_ARGUMENT (gRPC) / 400 (HTTP)
 └── CanaryNotFoundError(LookupError) -> NOT_FOUND (gRPC) / 404 (HTTP)
"""

from __future__ import annotations

from sloengine.errors import RequestError, SloEngineError

__all__ = ["CanaryNotFoundError", "CanaryRequestError"]


class CanaryRequestError(RequestError):
    """A verdict request is invalid; `field` names the offending field."""


class CanaryNotFoundError(SloEngineError, LookupError):
    """The service or variant of a verdict request is unknown; `field` names which."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")
