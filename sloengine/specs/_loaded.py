"""What a format loader hands to the catalog: SLOs plus what still needs cross-file checks."""

from __future__ import annotations

from dataclasses import dataclass

from sloengine.model import SLO
from sloengine.specs._fields import At


@dataclass(frozen=True)
class PolicyRef:
    """A spec naming a burn-rate policy, checked once the whole catalog is read.

    `period_seconds` is the period the spec gave (it must equal the policy's), at
    `period_at`; None means the spec gave none, so its SLOs take the policy's period.
    """

    name: str
    at: At
    period_seconds: float | None = None
    period_at: At | None = None


@dataclass(frozen=True)
class LoadedSLO:
    """An SLO as loaded, before catalog-wide resolution of its policy reference."""

    slo: SLO
    policy_ref: PolicyRef | None = None
