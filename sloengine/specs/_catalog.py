"""`load_catalog`: read spec files, dispatch each document to its format, check across files.

Stages: find files -> parse YAML documents -> load each document by apiVersion/kind (or
Sloth's `version`) -> resolve policies and periods -> check duplicates. Every stage adds to
one Collector; if anything was wrong the run ends with SpecErrors listing all of it.

Every loaded SLO leaves with its policy resolved here, once, and carried on it (`burn_policy`,
its name in `policy`; consumers read it through `model.resolved_policy`): the policy its spec names;
else the caller's `default_policy` (CLI `--policy`, engine config), whose period must be
the SLO's; else the policy matching its period (`policy.period_policy`: 28d -> the 28d
table, 7d -> 7d, other periods derived from the period).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sloengine.durations import format_duration
from sloengine.errors import SpecError, SpecErrors
from sloengine.maths.timeslices import timeslice_refusal
from sloengine.model import SLO, BurnRatePolicy, Catalog
from sloengine.specs import _native, _openslo, _openslo_v1alpha, _sloth
from sloengine.specs._documents import Document, read_documents, spec_files
from sloengine.specs._fields import At, Collector, type_name
from sloengine.specs._loaded import LoadedSLO, PolicyRef
from sloengine.specs.policy import (
    PERIOD_POLICY_PREFIX,
    builtin_policy,
    builtin_policy_names,
    parse_policy,
    period_policy,
)

_POLICY_KINDS = {"sloengine/v1": "BurnRatePolicy", "sloth.slok.dev/v1": "AlertWindows"}
_KINDS_BY_API = {
    _native.API_VERSION: (_native.KIND, "BurnRatePolicy"),
    _openslo.API_VERSION: _openslo.KINDS,
    _openslo_v1alpha.API_VERSION: ("SLO",),
    "sloth.slok.dev/v1": ("AlertWindows",),
}
_SUPPORTED = f"{', '.join(_KINDS_BY_API)}, or Sloth's version: {_sloth.VERSION}"


@dataclass
class _Loading:
    """What one run has read so far."""

    collector: Collector = field(default_factory=Collector)
    slos: list[LoadedSLO] = field(default_factory=list)
    policies: list[tuple[BurnRatePolicy, At]] = field(default_factory=list)
    policy_refs: list[PolicyRef] = field(default_factory=list)
    openslo: _openslo.Documents = field(default_factory=_openslo.Documents)


def load_catalog(
    paths: Sequence[str | Path], *, default_policy: str | BurnRatePolicy | None = None
) -> Catalog:
    """Load every spec under `paths` (files or directories) into one Catalog.

    `default_policy` (a built-in or catalog policy name, or a policy) overrides the choice by
    period for SLOs whose spec names no policy. Raises SpecErrors holding every problem
    found, one `file: field.path: reason` line each.
    """
    state = _Loading()
    for path in spec_files(paths, state.collector):
        for doc in read_documents(path, state.collector):
            _dispatch(doc, state)
    state.slos.extend(_openslo.load_slos(state.openslo, state.collector))
    policies = _check_policies(state.policies, state.collector)
    periods = _check_policy_refs(state.policy_refs, policies, state.collector)
    slos = _resolve_policies(state.slos, periods)
    slos, chosen = _choose_policies(slos, policies, default_policy, state.collector)
    _check_timeslices(slos, state.collector)
    _check_duplicates(slos, state.collector)
    if state.collector.errors:
        raise SpecErrors(state.collector.errors)
    return Catalog(slos=tuple(slos), policies=(*policies.values(), *chosen))


def _dispatch(doc: Document, state: _Loading) -> None:
    body, at, collector = doc.body, doc.at, state.collector
    if not isinstance(body, dict):
        collector.add(at.error(f"expected a mapping (a spec document), got {type_name(body)}"))
        return
    if _sloth.is_sloth_document(body):
        state.slos.extend(_sloth.load_sloth(body, at, collector))
        return
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if api_version is None:
        collector.add(at.error(f"not a spec document: no apiVersion (supported: {_SUPPORTED})"))
    elif _POLICY_KINDS.get(str(api_version)) == kind:
        policy = collector.attempt(lambda: _policy(body, at))
        if policy is not None:
            name_at = at.key("metadata").key("name") if kind == "BurnRatePolicy" else at
            state.policies.append((policy, name_at))
    elif api_version == _native.API_VERSION and kind == _native.KIND:
        slos, ref = _native.load_service_slos(body, at, collector)
        state.slos.extend(slos)
        if ref is not None:
            state.policy_refs.append(ref)
    elif api_version == _openslo.API_VERSION:
        _openslo.collect(body, at, state.openslo, collector)
    elif api_version == _openslo_v1alpha.API_VERSION:
        state.slos.extend(_openslo_v1alpha.load_slo(body, at, collector))
    elif str(api_version) in _KINDS_BY_API:
        kinds = ", ".join(_KINDS_BY_API[str(api_version)])
        collector.add(
            at.key("kind").error(
                f"unsupported kind {kind!r} for {api_version} (supported: {kinds})"
            )
        )
    else:
        collector.add(
            at.key("apiVersion").error(
                f"unsupported apiVersion {api_version!r} (supported: {_SUPPORTED})"
            )
        )


def _policy(body: dict[str, Any], at: At) -> BurnRatePolicy:
    try:
        return parse_policy(body, at.file)
    except SpecError as err:
        # parse_policy knows one document per file: put the document prefix back.
        path = ".".join(p for p in (at.path, err.field_path) if p)
        raise At(at.file, path).error(err.reason) from None


def _check_policies(
    loaded: list[tuple[BurnRatePolicy, At]], collector: Collector
) -> dict[str, BurnRatePolicy]:
    builtins = builtin_policy_names()
    policies: dict[str, BurnRatePolicy] = {}
    for policy, at in loaded:
        if policy.name in builtins:
            collector.add(at.error(f"policy {policy.name!r} shadows a built-in policy"))
        elif policy.name in policies:
            collector.add(at.error(f"duplicate policy name {policy.name!r}"))
        else:
            policies[policy.name] = policy
    return policies


def _check_policy_refs(
    refs: list[PolicyRef], policies: dict[str, BurnRatePolicy], collector: Collector
) -> dict[PolicyRef, float]:
    """The period each valid reference gives its SLOs; invalid ones are reported once."""
    known = sorted({*builtin_policy_names(), *policies})
    periods = {}
    for ref in refs:
        if ref.name not in known:
            collector.add(ref.at.error(f"unknown policy {ref.name!r} (known: {', '.join(known)})"))
            continue
        policy = policies.get(ref.name) or builtin_policy(ref.name)
        if ref.period_seconds is not None and ref.period_seconds != policy.period_seconds:
            where = ref.period_at or ref.at
            collector.add(
                where.error(
                    f"{format_duration(ref.period_seconds)} differs from the period of "
                    f"policy {policy.name!r} ({format_duration(policy.period_seconds)})"
                )
            )
            continue
        periods[ref] = policy.period_seconds
    return periods


def _resolve_policies(loaded: list[LoadedSLO], periods: dict[PolicyRef, float]) -> list[SLO]:
    """SLOs with valid policy references, periods taken from their policy when not given."""
    slos = []
    for item in loaded:
        slo, ref = item.slo, item.policy_ref
        if ref is not None:
            if ref not in periods:
                continue  # the reference is reported, once, by _check_policy_refs
            slo = replace(slo, period_seconds=periods[ref])
        slos.append(slo)
    return slos


def _choose_policies(
    slos: list[SLO],
    policies: dict[str, BurnRatePolicy],
    default: str | BurnRatePolicy | None,
    collector: Collector,
) -> tuple[list[SLO], list[BurnRatePolicy]]:
    """Resolve every SLO's policy once: carry it as `burn_policy` (and its name as `policy`
    on an SLO that names none). Also return the policies that creates (a default given as
    an object, periods derived), for the catalog to carry."""
    override = _default_policy(default, policies, collector)
    created: dict[str, BurnRatePolicy] = {}
    if isinstance(default, BurnRatePolicy) and override is not None:
        created[override.name] = override
    out = []
    for slo in slos:
        if slo.policy is not None:
            # A reference _check_policy_refs accepted: a catalog policy, else a built-in.
            named = policies.get(slo.policy)
            if named is None and slo.policy in builtin_policy_names():
                named = builtin_policy(slo.policy)
            out.append(replace(slo, burn_policy=named))
            continue
        at = At(slo.source.file, slo.source.path)
        policy = override
        if policy is not None and policy.period_seconds != slo.period_seconds:
            collector.add(
                at.error(
                    f"the SLO's period {format_duration(slo.period_seconds)} differs from the "
                    f"period of the default policy {policy.name!r} "
                    f"({format_duration(policy.period_seconds)}); name a policy for this period"
                )
            )
            continue
        if policy is None:
            policy = policies.get(_period_name(slo.period_seconds))
            if policy is None or policy.period_seconds != slo.period_seconds:
                try:
                    policy = period_policy(slo.period_seconds)
                except ValueError as exc:
                    collector.add(at.error(str(exc)))
                    continue
            if policy.name not in builtin_policy_names() and policy.name not in policies:
                created[policy.name] = policy
        out.append(replace(slo, policy=policy.name, burn_policy=policy))
    return out, list(created.values())


def _check_timeslices(slos: list[SLO], collector: Collector) -> None:
    """Each timeslices SLO's slice must divide its policy's windows and its period."""
    for slo in slos:
        if slo.burn_policy is None:
            continue
        refusal = timeslice_refusal(slo, slo.burn_policy.window_seconds())
        if refusal is not None:
            collector.add(At(slo.source.file, slo.source.path).error(refusal))


def _period_name(period_seconds: float) -> str:
    return f"{PERIOD_POLICY_PREFIX}{format_duration(period_seconds)}"


def _default_policy(
    default: str | BurnRatePolicy | None,
    policies: dict[str, BurnRatePolicy],
    collector: Collector,
) -> BurnRatePolicy | None:
    if default is None or isinstance(default, BurnRatePolicy):
        return default
    if default in policies:
        return policies[default]
    if default in builtin_policy_names():
        return builtin_policy(default)
    known = ", ".join(sorted({*builtin_policy_names(), *policies}))
    collector.add(At("", "policy").error(f"unknown default policy {default!r} (known: {known})"))
    return None


def _check_duplicates(slos: list[SLO], collector: Collector) -> None:
    by_id: dict[str, SLO] = {}
    for slo in slos:
        first = by_id.get(slo.id)
        if first is None:
            by_id[slo.id] = slo
            continue
        at = At(slo.source.file, slo.source.path)
        where = f"{first.source.file} {first.source.path}".strip()
        if (first.service, first.name) == (slo.service, slo.name):
            reason = (
                f"duplicate SLO {slo.name!r} for service {slo.service!r} (first defined in {where})"
            )
        else:
            reason = f"duplicate SLO id {slo.id!r} (service-name; first defined in {where})"
        collector.add(at.error(reason))
