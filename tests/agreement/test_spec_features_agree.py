"""Spec features computed the same by the engine (pushed series) and by Prometheus running the
generated rules (promtool), through the harness of test_engine_rules_agree.py:

- a latency SLI over series some of which send no latency histogram: those series are
  "no latency data" on both sides, never "every request slow";
- a 28-day SLO that names no policy: the loader picks the 28d table, and both sides page
  at a 14x burn (over 13.44x, under the 30d table's 14.4x) at the same minutes;
- an error status regex the pushed 5xx counts cannot express: the engine refuses the SLO
  (the rules compute it), never the 5xx ratio instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sloengine import conventions as c
from sloengine.engine.evaluate import NO_LATENCY_DATA, evaluate_slo
from sloengine.errors import UnsupportedSLOError
from sloengine.generate import GenerateOptions, catalog_policies, render_alert_files
from sloengine.ingest import decode_push
from sloengine.model import SLO, Catalog, NativeSLI
from sloengine.specs import load_catalog
from sloengine.specs.policy import builtin_policy
from sloengine.store import SeriesStore
from tests.agreement.harness import BASE_UNIX_S, engine_statuses, firing, promtool_agreement
from tests.agreement.traffic import Counts, Phase, Series, Timeline, push_requests

SEARCH = Series("shop", c.VARIANT_STABLE, "/search", "GET")
LEGACY = Series("shop", c.VARIANT_STABLE, "/legacy", "GET", has_histogram=False)


def _native(tmp_path: Path, body: str, period: str = "") -> Path:
    spec = tmp_path / "shop.yaml"
    spec.write_text(
        f"apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: shop\n{period}slos:\n{body}"
    )
    return spec


def _latency_slo(tmp_path: Path) -> SLO:
    spec = _native(tmp_path, "  - {name: latency, objective: 99, latency: {threshold: 0.5}}\n")
    (slo,) = load_catalog([spec]).slos
    return slo


# /legacy sends 3,000 requests a minute without a histogram; /search 1,000 with one.
LATENCY_TIMELINE = Timeline(
    series=(SEARCH, LEGACY),
    phases=(
        Phase("healthy", 30, {SEARCH: Counts(ok=1000, slow=3), LEGACY: Counts(ok=3000)}),
        # 25.1% slow on /search: pages (10x of 1%) once the 1h window is over 10%.
        Phase("burn", 30, {SEARCH: Counts(ok=1000, slow=251), LEGACY: Counts(ok=3000)}),
        Phase("only legacy", 20, {LEGACY: Counts(ok=3000)}),
    ),
)


@pytest.mark.integration
def test_series_without_buckets_are_left_out_of_latency_slis(tmp_path: Path) -> None:
    slos = (_latency_slo(tmp_path),)
    policy = builtin_policy("fast-slow")
    statuses = engine_statuses(slos, policy, LATENCY_TIMELINE)
    assert firing(statuses[20][0]) == ()  # 0.3% slow: /legacy's requests are not slow ones
    assert firing(statuses[60][0]) == ("page", "ticket")
    five = statuses[30][0].window(300)
    assert five is not None and five.requests == 5 * 1000  # /search only
    failures = promtool_agreement(tmp_path, slos, policy, LATENCY_TIMELINE, statuses)
    assert not failures, "\n".join(failures)


def test_a_latency_slo_with_only_histogramless_series_says_no_latency_data(
    tmp_path: Path,
) -> None:
    slo = _latency_slo(tmp_path)
    timeline = Timeline(series=(LEGACY,), phases=(Phase("x", 5, {LEGACY: Counts(ok=10)}),))
    store = SeriesStore()
    at = BASE_UNIX_S + 5 * 60
    req = push_requests(timeline, BASE_UNIX_S, 1, 5, 1)
    store.apply(decode_push(req, now_s=at, max_age_s=store.retention_seconds, max_future_s=0))
    status = evaluate_slo(slo, builtin_policy("fast-slow"), store, at)
    assert (status.has_data, status.no_data_reason) == (False, NO_LATENCY_DATA)
    assert all(w.requests == 0 and w.error_ratio == 0 for w in status.windows)
    # A snapshot keeps knowing which series never sent buckets.
    reloaded = SeriesStore.loads(store.dumps())
    again = evaluate_slo(slo, builtin_policy("fast-slow"), reloaded, at)
    assert (again.has_data, again.no_data_reason) == (False, NO_LATENCY_DATA)


# 14 errors in 1,000 a minute: a 14x burn of a 99.9% objective.
BURN_14X = Timeline(
    series=(SEARCH,),
    phases=(Phase("burn", 70, {SEARCH: Counts(ok=986, server_errors=14)}),),
)


@pytest.mark.integration
def test_a_28d_slo_pages_on_the_28d_factors_on_both_sides(tmp_path: Path) -> None:
    spec = _native(tmp_path, "  - {name: ok, objective: 99.9, availability: {}}\n", "period: 28d\n")
    catalog = load_catalog([spec])
    (slo,) = catalog.slos
    assert slo.policy == "sre-workbook-28d"
    policy = catalog_policies(catalog)[slo.policy]
    statuses = engine_statuses((slo,), policy, BURN_14X)
    # The 1h window is over 13.44x from minute 1 (it only holds burning minutes).
    assert firing(statuses[5][0]) == ("page", "ticket")
    thirty = engine_statuses((slo,), builtin_policy("sre-workbook-30d"), BURN_14X)

    def fast_pair_fires(st: object) -> bool:
        return any(a.firing and a.long_window_seconds == 3600 for a in st.alerts)  # type: ignore[attr-defined]

    # The 5m/1h pair: 14x is over 28d's 13.44x, under 30d's 14.4x.
    assert all(fast_pair_fires(sts[0]) for sts in statuses.values())
    assert not any(fast_pair_fires(sts[0]) for sts in thirty.values())
    failures = promtool_agreement(tmp_path, (slo,), policy, BURN_14X, statuses, parts=("windows",))
    assert not failures, "\n".join(failures)


def test_an_error_status_the_pushed_counts_cannot_express_is_refused(tmp_path: Path) -> None:
    spec = _native(
        tmp_path,
        "  - {name: a, objective: 99, availability: {errorStatus: '5..|429'}}\n"
        "  - {name: b, objective: 99, availability: {errorStatus: '5[0-9][0-9]'}}\n",
    )
    refused, same = load_catalog([spec]).slos
    store = SeriesStore()
    policy = builtin_policy("fast-slow")
    with pytest.raises(UnsupportedSLOError) as err:
        evaluate_slo(refused, policy, store, BASE_UNIX_S)
    assert str(err.value) == (
        "SLO shop-a: error status '5..|429' cannot be computed from pushed series, whose error "
        "counts are status=~'5..' (5xx); the generated Prometheus rules compute it"
    )
    # The same codes as 5xx, spelled differently: computed.
    assert isinstance(same.sli, NativeSLI)
    assert evaluate_slo(same, policy, store, BASE_UNIX_S).has_data is False
    # The rules keep the spec's definition.
    files = render_alert_files(Catalog(slos=(refused,)), GenerateOptions(canary=None))
    assert 'status=~"5..|429"' in files["shop.rules.yml"]


@pytest.mark.integration
def test_an_error_status_equal_to_5xx_agrees_with_the_rules(tmp_path: Path) -> None:
    # Spelled differently from "5..", the same codes: the engine computes it from the
    # pushed 5xx counts and the rules from the status label, with the same results.
    spec = _native(
        tmp_path,
        "  - {name: ok, objective: 99.9, availability: {errorStatus: '5[0-9][0-9]'}}\n",
    )
    slos = load_catalog([spec], default_policy="fast-slow").slos
    policy = builtin_policy("fast-slow")
    timeline = Timeline(
        series=(SEARCH,),
        phases=(
            Phase("healthy", 20, {SEARCH: Counts(ok=990, client_errors=9, server_errors=1)}),
            Phase("burn", 20, {SEARCH: Counts(ok=960, client_errors=9, server_errors=31)}),
        ),
    )
    statuses = engine_statuses(slos, policy, timeline)
    assert firing(statuses[40][0]) == ("page", "ticket")
    failures = promtool_agreement(tmp_path, slos, policy, timeline, statuses)
    assert not failures, "\n".join(failures)
