"""The loader resolves each SLO's burn-rate policy once and carries it on the SLO; the
generators, the replay and the engine read that object instead of resolving the name again."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sloengine.engine import Clock, StatusService, StoreHandle
from sloengine.generate import catalog_policies, policy_for
from sloengine.model import SLO, Catalog, NativeSLI, resolved_policy
from sloengine.specs import load_catalog
from sloengine.specs.policy import builtin_policy, load_policy_file

SPECS = """apiVersion: sloengine/v1
kind: BurnRatePolicy
metadata: {name: weekly-fast}
spec:
  period: 7d
  windows:
    - {severity: page, shortWindow: 5m, longWindow: 1h, factor: 10}
---
apiVersion: sloengine/v1
kind: ServiceSLOs
service: checkout
policy: weekly-fast
slos:
  - {name: pay, objective: 99.95, availability: {errorStatus: "5..|429"}}
---
apiVersion: sloengine/v1
kind: ServiceSLOs
service: cart
policy: fast-slow
slos:
  - {name: add, objective: 99, availability: {errorStatus: "5.."}}
---
apiVersion: sloengine/v1
kind: ServiceSLOs
service: search
period: 14d
slos:
  - {name: query, objective: 99, availability: {errorStatus: "5.."}}
"""

POLICY_FILE = """apiVersion: sloengine/v1
kind: BurnRatePolicy
metadata: {name: from-file}
spec:
  period: 30d
  windows:
    - {severity: page, shortWindow: 5m, longWindow: 1h, factor: 14.4}
"""


def _catalog(tmp_path: Path) -> Catalog:
    path = tmp_path / "specs.yaml"
    path.write_text(SPECS)
    return load_catalog([path])


def _by_id(catalog: Catalog) -> dict[str, SLO]:
    return {s.id: s for s in catalog.slos}


def test_every_loaded_slo_carries_the_policy_its_name_resolves_to(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    policies = catalog_policies(catalog)
    for slo in catalog.slos:
        assert slo.burn_policy is not None and slo.policy is not None
        assert slo.burn_policy == policies[slo.policy]
    slos = _by_id(catalog)
    assert slos["checkout-pay"].burn_policy == next(
        p for p in catalog.policies if p.name == "weekly-fast"
    )
    assert slos["cart-add"].burn_policy == builtin_policy("fast-slow")
    # Chosen by period (none named): the derived 14d policy, also listed in the catalog.
    derived = slos["search-query"].burn_policy
    assert derived is not None and derived.name == "sre-workbook-14d"
    assert derived in catalog.policies


def test_a_default_policy_file_is_carried_on_slos_that_name_none(tmp_path: Path) -> None:
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(POLICY_FILE)
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: a\n"
        "slos:\n  - {name: up, objective: 99, availability: {errorStatus: '5..'}}\n"
    )
    policy = load_policy_file(policy_path)
    (slo,) = load_catalog([spec], default_policy=policy).slos
    assert (slo.policy, slo.burn_policy) == ("from-file", policy)
    # The consumers need no mapping holding it: the SLO carries it.
    assert policy_for(slo, {}, "fast-slow") == policy
    status = StatusService(Catalog((slo,)), {}, store=StoreHandle(), clock=Clock(lambda: 0.0))
    assert status.policy_for(slo) == policy


def test_the_carried_policy_is_derived_data_not_identity(tmp_path: Path) -> None:
    loaded = _by_id(_catalog(tmp_path))["cart-add"]
    by_hand = dataclasses.replace(loaded, burn_policy=None)
    assert loaded == by_hand and hash(loaded) == hash(by_hand)
    assert "burn_policy" not in repr(loaded)


def test_an_slo_built_in_code_is_resolved_by_name_or_default() -> None:
    slo = SLO("svc", "up", 0.99, NativeSLI("availability", (("service", "svc"),)))
    known = catalog_policies(Catalog(()))
    assert resolved_policy(slo, known, "fast-slow") == builtin_policy("fast-slow")
    named = dataclasses.replace(slo, policy="sre-workbook-7d")
    assert resolved_policy(named, known, "fast-slow") == builtin_policy("sre-workbook-7d")
    assert resolved_policy(dataclasses.replace(slo, policy="nope"), known, "fast-slow") is None


def test_renaming_a_loaded_slos_policy_resolves_the_new_name(tmp_path: Path) -> None:
    # replace(slo, policy=...) leaves the loader's object behind: the name wins.
    loaded = _by_id(_catalog(tmp_path))["cart-add"]
    renamed = dataclasses.replace(loaded, policy="sre-workbook-28d")
    known = catalog_policies(Catalog(()))
    assert policy_for(renamed, known, "fast-slow") == builtin_policy("sre-workbook-28d")
    status = StatusService(
        Catalog((renamed,)), known, store=StoreHandle(), clock=Clock(lambda: 0.0)
    )
    assert status.policy_for(renamed) == builtin_policy("sre-workbook-28d")
