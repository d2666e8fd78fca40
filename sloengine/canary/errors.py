"""Errors of the canary adapters: a bad verdict request names the field that is wrong.

SloEngineError
 └── RequestError(ValueError)
      └── CanaryRequestError         -> INVALID_ARGUMENT (gRPC) / 400 (HTTP)
"""

from __future__ import annotations

from sloengine.errors import RequestError

__all__ = ["CanaryRequestError"]


class CanaryRequestError(RequestError):
    """A verdict request is invalid; `field` names the offending field."""
