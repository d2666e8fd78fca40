"""What a format loader hands to the catalog: SLOs plus what still needs cross-file checks."""

from __future__ import annotations

from dataclasses import dataclass

from sloengine.model import SLO
from sloengine.specs._fields import At


@dataclass(frozen=True)
class LoadedSLO:
    """An SLO as loaded, before catalog-wide resolution.

    `policy_at` is where `slo.policy` was named (checked against the catalog's policies).
    `period_at` is where the period was given; None means the spec gave none, so the catalog
    sets the named policy's period (when a policy is named).
    """

    slo: SLO
    policy_at: At | None = None
    period_at: At | None = None
