"""What `instrument()` was asked for, validated once, frozen."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sloengine import conventions as c
from sloengine.settings import fields
from sloengine.settings.fields import At

__all__ = ["Settings"]

Scope = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    """Identity of the instrumented service and where per-request context comes from.

    Header names are lowercase (ASGI delivers them so). `feature_flag_state` and
    `data_version` may be callbacks: the first receives the ASGI scope and wins over the
    header; the second takes no argument (a data version is a property of the process).
    """

    service: str
    variant: str = c.VARIANT_STABLE
    version: str | None = None
    revision: str | None = None
    environment: str | None = None
    request_id_header: str = "x-request-id"
    user_id_header: str | None = "x-user-id"
    feature_flags_header: str | None = "x-feature-flags"
    feature_flag_state: Callable[[Scope], str | None] | None = None
    data_version: str | Callable[[], str | None] | None = None
    metrics_path: str | None = "/metrics"
    health_path: str | None = "/health"
    ready_path: str | None = "/ready"
    readiness_timeout_s: float = 2.0
    access_log: bool = True

    def __post_init__(self) -> None:
        if not self.service or not self.service.strip():
            raise ValueError("service: must be a non-empty name")
        # The shared readers (sloengine.settings.fields) raise SpecError, a ValueError: `variant: ...`.
        fields.choice(self.variant, At("", "variant"), c.VARIANTS)
        if self.revision is not None:
            fields.revision(self.revision, At("", "revision"))
        for field in ("request_id_header", "user_id_header", "feature_flags_header"):
            value = getattr(self, field)
            if value is not None and value != value.lower():
                object.__setattr__(self, field, value.lower())
        for field in ("metrics_path", "health_path", "ready_path"):
            value = getattr(self, field)
            if value is not None and not value.startswith("/"):
                raise ValueError(f"{field}: must start with '/', got {value!r}")
        fields.positive(self.readiness_timeout_s, At("", "readiness_timeout_s"))
