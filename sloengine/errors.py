"""The engine's exception tree: every error the engine raises on purpose is defined here.

    SloEngineError
     ├── SpecError(ValueError)       a spec, policy or config file is wrong: file, field, reason
     ├── SpecErrors(ValueError)      several SpecErrors of one run, one per line
     ├── IngestError(ValueError)     a pushed batch is wrong: field path and reason
     ├── RequestError(ValueError)    a request at an edge (HTTP, gRPC) is wrong: field, reason
     │    ├── CanaryRequestError     a verdict request: INVALID_ARGUMENT / 400
     │    └── UIRequestError         a UI query parameter: 400, or 404 when `not_found`
     ├── PayloadError(ValueError)    a remote_write / OTLP body is malformed: nothing counted
     ├── SignatureError(ValueError)  a hook delivery a receiver must refuse (says why)
     ├── ReplayError(ValueError)     replay history or options are wrong: where, and what
     ├── UnknownSLOError(KeyError)   a request names an SLO (or service) the engine lacks
     ├── CanaryNotFoundError(LookupError)  a verdict request's service or variant is unknown
     ├── UnsupportedSLOError         the engine cannot compute this SLO from its data (why)
     ├── CapacityError               a configured limit (series, message size) is exceeded
     ├── PrometheusError             the Prometheus API answered with an error (pull mode)
     │    └── PrometheusUnavailable  ... or could not be reached, or timed out
     ├── StoreCorruptError           a snapshot or WAL segment is damaged beyond a torn tail
     ├── DataDirLockedError          another process holds the data directory
     ├── WalFailedError(OSError)     a WAL write or fsync failed: nothing after it is acked
     ├── JournalError(OSError)       the pipelines' journal cannot be written (or is poisoned)
     ├── AuditLogError               the audit log cannot be extended: an entry is unreadable
     └── OverrideError               `sloengine override`: refused, or engine unreachable

At the edges each becomes one line: exit code 2 in the CLI, INVALID_ARGUMENT / NOT_FOUND /
RESOURCE_EXHAUSTED over gRPC, 400 / 404 / 429 over HTTP. `RequestError` is raised by the
validation at the edge (`sloengine.settings.inputs`, `sloengine.http.body`) before a value reaches
the domain: INVALID_ARGUMENT / 400 naming the field. The errors that were an `OSError` or a
`ValueError` before they joined the tree still are one, so `except OSError` keeps working.

Every class stays importable where it was first published (`sloengine.store`,
`sloengine.pipelines`, `sloengine.hooks`, `sloengine.canary`, `sloengine.ui`, ...). The only
exception classes defined elsewhere are private control flow that never leaves its module
(`specs._fields.AlreadyReported`, `hooks._runner._AttemptError`); they derive from
`SloEngineError` too.
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


class CanaryRequestError(RequestError):
    """A verdict request is invalid; `field` names the offending field."""


class UIRequestError(RequestError):
    """A bad UI query parameter or an unknown object; `str()` names the parameter.

    `not_found` makes it a 404 (an unknown SLO) rather than a 400."""

    def __init__(self, param: str, reason: str, *, not_found: bool = False) -> None:
        super().__init__(param, reason)
        self.not_found = not_found


class PayloadError(SloEngineError, ValueError):
    """A pipeline request body (remote_write, OTLP) is malformed (4xx): nothing of it was
    counted."""


class SignatureError(SloEngineError, ValueError):
    """A hook delivery that must be refused; the message says why (safe to log, no secret)."""


class ReplayError(SloEngineError, ValueError):
    """History or options a replay cannot use; `where` names the file, row, column or flag.

    `str(err)` is one line (`where: reason`); the CLI prints it and exits 2."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}" if where else reason)


class CanaryNotFoundError(SloEngineError, LookupError):
    """The service or variant of a verdict request is unknown; `field` names which."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class PrometheusError(SloEngineError):
    """The Prometheus API answered with an error (bad query, bad data)."""


class PrometheusUnavailable(PrometheusError):
    """The Prometheus API could not be reached or timed out."""


class StoreCorruptError(SloEngineError):
    """A snapshot or a WAL segment is damaged beyond a torn tail: refusing to guess."""


class DataDirLockedError(SloEngineError):
    """Another process holds the data directory."""


class WalFailedError(SloEngineError, OSError):
    """A WAL write or fsync failed; nothing after it can be acknowledged."""


class JournalError(SloEngineError, OSError):
    """The pipelines' journal cannot be written (or was poisoned by an earlier failure)."""


class AuditLogError(SloEngineError):
    """The audit log cannot be extended: an entry in it is unreadable."""


class OverrideError(SloEngineError):
    """`sloengine override`: the engine refused the override, or could not be reached."""
