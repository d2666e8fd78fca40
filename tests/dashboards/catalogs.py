"""The catalogs the dashboard tests render: the example catalog and a hand-built one."""

from __future__ import annotations

from pathlib import Path

from sloengine.generate import catalog_policies
from sloengine.model import SLO, BurnRatePolicy, Catalog, EventsSLI, NativeSLI, SourceRef
from sloengine.specs import load_catalog

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "slos"


def builtin_policies() -> dict[str, BurnRatePolicy]:
    return catalog_policies(Catalog(()))


def examples_catalog() -> Catalog:
    """examples/slos, loaded with a relative path as `make generate` does."""
    return load_catalog([EXAMPLES.relative_to(REPO)])


def handmade_catalog() -> Catalog:
    """One service on the fast/slow policy (two alerts sharing 5m & 1h) with two SLI kinds."""
    source = SourceRef("specs/checkout.yaml", "documents[0]")
    return Catalog(
        slos=(
            SLO(
                service="checkout",
                name="pay-latency",
                objective_ratio=0.995,
                sli=NativeSLI(
                    "latency",
                    selector=(("route", "/pay"), ("service", "checkout")),
                    latency_threshold_seconds=0.25,
                ),
                policy="fast-slow",
                source=source,
            ),
            SLO(
                service="checkout",
                name="orders",
                objective_ratio=0.99,
                sli=EventsSLI(
                    total_query="sum(rate(orders_total[{{.window}}]))",
                    error_query='sum(rate(orders_total{result="failed"}[{{.window}}]))',
                ),
                period_seconds=7 * 86400,
                policy="sre-workbook-7d",
                source=source,
            ),
        )
    )
