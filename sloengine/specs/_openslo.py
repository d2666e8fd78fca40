"""OpenSLO v1 (`apiVersion: openslo/v1`): SLO, SLI and Service documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sloengine.specs._fields import At, Collector
from sloengine.specs._loaded import LoadedSLO

API_VERSION = "openslo/v1"
KINDS = ("SLO", "SLI", "Service")


@dataclass
class Documents:
    """OpenSLO documents of one run, gathered first so that indicatorRef can point anywhere."""

    slos: list[tuple[dict[str, Any], At]] = field(default_factory=list)


def collect(doc: dict[str, Any], at: At, docs: Documents, collector: Collector) -> None:
    collector.add(at.key("apiVersion").error(f"{API_VERSION} is not supported yet"))


def load_slos(docs: Documents, collector: Collector) -> list[LoadedSLO]:
    return []
