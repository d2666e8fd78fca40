"""Grafana dashboards for an SLO catalog, built with grafana-foundation-sdk.

    files = render_dashboards(catalog, policies)   # {"red.json": "{...}", ...}

Dashboards (see docs/dashboards.md):
- `red.json`: rate, errors and duration by route for the `$service` variable;
- `canary.json`: canary against baseline with the guard thresholds drawn;
- `slo-<service>.json`: per SLO of the service, SLI, error budget and burn rate per policy
  window with the alert factors drawn.

Output is deterministic: sorted keys, uids derived from names, ids in layout order, no
timestamps. JSON has no comments, so the do-not-edit note is each dashboard's description.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dash

from sloengine.errors import SpecError
from sloengine.generate import policy_for
from sloengine.generate.dashboards_canary import CanaryGuards, canary_dashboard
from sloengine.generate.dashboards_panels import link_by_tags, link_to
from sloengine.generate.dashboards_red import red_dashboard
from sloengine.generate.dashboards_slo import slo_dashboard
from sloengine.model import SLO, BurnRatePolicy, Catalog
from sloengine.policy import DEFAULT_POLICY

__all__ = ["CanaryGuards", "dashboard_uid", "render_dashboards"]

RED_FILE = "red.json"
CANARY_FILE = "canary.json"
TAG = "sloengine"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def dashboard_uid(key: str) -> str:
    """A stable Grafana uid for a dashboard key (`red`, `canary`, `slo/<service>`).

    Derived from the name alone, so a regenerated dashboard replaces the imported one
    instead of creating a copy; 21 characters, well inside Grafana's limit of 40.
    """
    return "sloe-" + hashlib.sha1(key.encode()).hexdigest()[:16]


def slo_filename(service: str) -> str:
    """`slo-<service>.json`, with characters unsafe in a file name replaced by `_`."""
    return f"slo-{_UNSAFE_FILENAME.sub('_', service)}.json"


def render_dashboards(
    catalog: Catalog,
    policies: Mapping[str, BurnRatePolicy],
    *,
    guards: CanaryGuards | None = None,
    default_policy: str = DEFAULT_POLICY,
) -> dict[str, str]:
    """Every dashboard for `catalog`: file name -> JSON text (deterministic bytes).

    `policies` maps names to policies (e.g. `sloengine.generate.catalog_policies(catalog)`);
    an SLO that names none uses `default_policy`, resolved exactly as the rules generator
    does, so the lines drawn are the factors the alerts use. An unknown name raises
    SpecError naming the SLO's file and field. `guards` are the canary thresholds drawn.
    """
    guards = guards or CanaryGuards()
    services = sorted({slo.service for slo in catalog.slos})
    default_service = services[0] if services else ""
    note = _generated_note(catalog.slos)
    red_uid, canary_uid = dashboard_uid("red"), dashboard_uid("canary")
    slo_links = link_by_tags("SLO dashboards", [TAG, "slo"])

    boards: dict[str, dash_b.Dashboard] = {
        RED_FILE: red_dashboard(default_service)
        .uid(red_uid)
        .description(f"Rate, errors and duration by route. {note}")
        .tags([TAG, "red"])
        .time("now-3h", "now")
        .links([link_to("Canary vs baseline", canary_uid, include_vars=True), slo_links]),
        CANARY_FILE: canary_dashboard(default_service, guards)
        .uid(canary_uid)
        .description(f"Canary against baseline with the guard thresholds. {note}")
        .tags([TAG, "canary"])
        .time("now-3h", "now")
        .links([link_to("RED", red_uid, include_vars=True), slo_links]),
    }
    for service in services:
        slos = sorted((s for s in catalog.slos if s.service == service), key=lambda s: s.name)
        filename = slo_filename(service)
        if filename in boards:
            raise SpecError("", "service", f"{service!r} and another service share {filename}")
        boards[filename] = (
            slo_dashboard(service, slos, [policy_for(s, policies, default_policy) for s in slos])
            .uid(dashboard_uid(f"slo/{service}"))
            .description(
                f"SLI, error budget and burn rates of {service}'s SLOs. {_generated_note(slos)}"
            )
            .tags([TAG, "slo", service])
            .time("now-7d", "now")
            .links(
                [
                    link_to("RED", red_uid, include_vars=True),
                    link_to("Canary vs baseline", canary_uid, include_vars=True),
                ]
            )
        )
    return {name: _encode(_finish(board)) for name, board in sorted(boards.items())}


def _generated_note(slos: Sequence[SLO]) -> str:
    # File names only, as in the rules' headers: the bytes must not depend on the directory
    # the generator was run from.
    files = sorted({PurePath(s.source.file).name for s in slos if s.source.file})
    spec = ", ".join(files) if 0 < len(files) <= 3 else f"{len(files)} spec files"
    return f"Generated by sloengine from {spec}. Do not edit; regenerate with `make generate`."


def _finish(board: dash_b.Dashboard) -> dash.Dashboard:
    """Build, then number panels in layout order (Grafana links and repeats use the ids)."""
    model = board.readonly().refresh("1m").build()
    next_id = 1
    for panel in model.panels or []:
        panel.id_val = next_id
        next_id += 1
        for inner in getattr(panel, "panels", None) or []:
            inner.id_val = next_id
            next_id += 1
    return model


def _encode(model: dash.Dashboard) -> str:
    return json.dumps(model, cls=JSONEncoder, sort_keys=True, indent=2) + "\n"
