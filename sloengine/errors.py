"""The engine's exception tree.

    SloEngineError
     ├── SpecError(ValueError)       an SLO spec or policy file is wrong: file, field path, reason
     ├── IngestError(ValueError)     a pushed batch is wrong: field path and reason
     ├── RequestError(ValueError)    a request at an edge (HTTP, gRPC) is wrong: field and reason
     ├── UnknownSLOError(KeyError)   a request names an SLO (or service) the engine does not have
     ├── UnsupportedSLOError         the engine cannot compute this SLO from its data (says why)
     └── CapacityError               a configured limit (series, message size) would be exceeded

At the edges each becomes one line: exit code 2 in the CLI, INVALID_ARGUMENT / NOT_FOUND /
RESOURCE_EXHAUSTED over gRPC, 400 / 404 / 429 over HTTP. `RequestError` is raised by the
validation at the edge (`sloengine.inputs`, `sloengine.http.body`) before a value reaches
the domain: INVALID_ARGUMENT / 400 naming the field.
"""

from __future__ import annotations


class SloEngineError(Exception):
    """Base of every error the engine raises on purpose."""


class SpecError(SloEngineError, ValueError):
    """An SLO spec, policy or config file is invalid.

    `str(err)` is the one-line form `file: field.path: reason` that users see.
    """

    def __init__(self, file: str, field_path: str, reason: str) -> None:
        self.file = file
        self.field_path = field_path
        self.reason = reason
        super().__init__(self.line())

    def line(self) -> str:
        parts = [p for p in (self.file, self.field_path) if p]
        return ": ".join([*parts, self.reason])


class SpecErrors(SloEngineError, ValueError):
    """Several SpecErrors found in one run; all are reported, one per line."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        super().__init__("\n".join(e.line() for e in errors))


class IngestError(SloEngineError, ValueError):
    """A pushed batch is invalid; `field` names the offending field path."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class RequestError(SloEngineError, ValueError):
    """A request arriving at an HTTP or gRPC edge is invalid; `field` names the bad field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class UnknownSLOError(SloEngineError, KeyError):
    """A request names an SLO or service the engine does not know."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown SLO"


class UnsupportedSLOError(SloEngineError):
    """The engine cannot compute an SLO from the data it has (e.g. an error status regex
    that pushed 5xx counts cannot express); the message says why."""


class CapacityError(SloEngineError):
    """A configured limit would be exceeded (series count, message size)."""
