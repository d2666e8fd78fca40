"""OpenSLO v1alpha SLOs as Sloth reads them."""

from __future__ import annotations

from typing import Any

from sloengine.specs._fields import At, Collector
from sloengine.specs._loaded import LoadedSLO

API_VERSION = "openslo/v1alpha"


def load_slo(doc: dict[str, Any], at: At, collector: Collector) -> list[LoadedSLO]:
    collector.add(at.key("apiVersion").error(f"{API_VERSION} is not supported yet"))
    return []
