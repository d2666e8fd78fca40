"""The engine's services in plain typed Python, no transport inside: the clock, readiness,
the durable store's handle and ingest limits, one window-source interface (push or pull),
and the status service. `sloengine.app` builds them once; gRPC, HTTP, the UI and the
pipelines receive the ones they need.
"""

from sloengine.engine._clock import Clock
from sloengine.engine._readiness import Readiness
from sloengine.engine._status import StatusService
from sloengine.engine._store import IngestLimits, StoreHandle
from sloengine.engine._windows import StoreWindows, WindowSource

__all__ = [
    "Clock",
    "IngestLimits",
    "Readiness",
    "StatusService",
    "StoreHandle",
    "StoreWindows",
    "WindowSource",
]
