"""The UI in headless Chromium against a real engine fed over the gRPC ingest API."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import pytest
from selenium import webdriver

from sloengine.model import SLO, Catalog, NativeSLI
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.specs.policy import builtin_policy
from tests.ui.conftest import RunningEngine, screenshot, wait_for
from tests.ui.traffic import batch, block

pytestmark = [pytest.mark.browser, pytest.mark.integration]

T0 = 1_800_000_000.0  # pinned engine clock, 2027-01-15T08:00:00Z
HOUR = 3600.0

CATALOG = Catalog(
    slos=(
        SLO(
            service="checkout",
            name="availability",
            objective_ratio=0.99,
            sli=NativeSLI("availability", selector=(("service", "checkout"),)),
            labels=(("team", "payments"),),
            description="Checkout answers without a server error",
        ),
        SLO(
            service="checkout",
            name="latency",
            objective_ratio=0.99,
            sli=NativeSLI(
                "latency", selector=(("service", "checkout"),), latency_threshold_seconds=0.5
            ),
            labels=(("team", "payments"),),
        ),
        SLO(
            service="search",
            name="availability",
            objective_ratio=0.999,
            sli=NativeSLI("availability", selector=(("service", "search"),)),
            labels=(("team", "search"),),
        ),
        SLO(
            service="docs-api",
            name="availability",
            objective_ratio=0.995,
            sli=NativeSLI("availability", selector=(("service", "docs-api"),)),
            labels=(("team", "docs"),),
        ),
    )
)

CONFIG: dict[str, Any] = {
    "canary": {
        "short_window": "5m",
        "long_window": "1h",
        "services": {"checkout": {"rollback_on_fail": True}},
    },
    # A real command (argv, no shell): the rollback succeeds and lands in the audit log.
    "hooks": {"checkout": {"command": ["true"], "retries": 0}},
}


@pytest.fixture(scope="module")
def engine(engine_factory: Callable[..., RunningEngine]) -> RunningEngine:
    """Six hours of replayed traffic; search burns its budget fast over the last hour."""
    engine = engine_factory(CATALOG, now=T0, raw=CONFIG)
    start = T0 - 6 * HOUR
    engine.push(
        batch("replay", 1, block("checkout", "stable", start_s=start, end_s=T0, rps=20, error_ratio=0.004, seed=1)),
        batch("replay", 2, block("checkout", "baseline", start_s=start, end_s=T0, rps=5, error_ratio=0.002, seed=2)),
        batch("replay", 3, block("checkout", "canary", start_s=start, end_s=T0, rps=5, error_ratio=0.002, seed=3, revision="rev-1")),
        batch("replay", 4, block("search", "stable", start_s=start, end_s=T0 - HOUR, rps=10, error_ratio=0.0005, route="/q", seed=4)),
        batch("replay", 5, block("search", "stable", start_s=T0 - HOUR, end_s=T0, rps=10, error_ratio=0.05, route="/q", seed=5)),
    )  # fmt: skip
    return engine


def _rows(driver: webdriver.Chrome) -> dict[str, dict[str, Any]]:
    """Every SLO row: its cells' data-value attributes and texts."""
    rows: list[dict[str, Any]] = driver.execute_script(
        """return [...document.querySelectorAll('#slo-rows [role=row][data-id]')].map(tr => {
             const cells = [...tr.querySelectorAll('[role=cell]')];
             return {id: tr.dataset.id, values: cells.map(td => td.dataset.value ?? null),
                     texts: cells.map(td => td.innerText.trim())}; })"""
    )
    return {r["id"]: r for r in rows}


def _close(ui_value: str, engine_value: float) -> bool:
    return math.isclose(float(ui_value), engine_value, rel_tol=1e-5, abs_tol=1e-9)


def test_slo_list_shows_the_engines_numbers(
    engine: RunningEngine, browser: webdriver.Chrome, console: list[Any]
) -> None:
    browser.get(f"{engine.base_url}/ui/#/slos")
    wait_for(browser, "document.documentElement.dataset.slosRendered === '4'")
    rows = _rows(browser)
    windows = sorted(builtin_policy().window_seconds())
    assert len(rows) == len(CATALOG.slos)
    for slo in CATALOG.slos:
        st = engine.status(slo.service, slo.name)
        row = rows[f"{slo.service}/{slo.name}"]
        values, texts = row["values"], row["texts"]
        # service, SLO, objective, window, SLI, budget, burn per window..., alert
        assert _close(values[2], slo.objective_ratio)
        if not st.has_data:
            assert values[4] == values[5] == ""
            assert texts[-1] == "NO DATA"
            continue
        assert _close(values[4], 1 - st.period_error_ratio)
        assert _close(values[5], st.error_budget_remaining_ratio)
        burns = {w.window_seconds: w.burn_rate for w in st.windows}
        for i, w in enumerate(windows):
            assert _close(values[6 + i], burns[w]), (slo.id, w)
        firing = {a.severity for a in st.alerts if a.firing}
        expected = "page" if "page" in firing else "ticket" if firing else "ok"
        assert values[-1] == expected
        assert texts[-1] == expected.upper()
    # search burns 50x its budget over the last hour: the page alert fires, shown as text.
    assert rows["search/availability"]["texts"][-1] == "PAGE"
    screenshot(browser, "slo-list", height=480)


def test_slo_list_sorts_filters_and_searches(
    engine: RunningEngine, browser: webdriver.Chrome, console: list[Any]
) -> None:
    browser.get(f"{engine.base_url}/ui/#/slos")
    wait_for(browser, "document.documentElement.dataset.slosRendered")
    order = (
        "[...document.querySelectorAll('#slo-rows [role=row][data-id]')].map(tr => tr.dataset.id)"
    )
    browser.execute_script("document.querySelector('button[data-sort=budget]').click()")
    ids = browser.execute_script(f"return {order}")
    assert ids[0] == "search/availability"  # least budget left first; no data last
    assert ids[-1] == "docs-api/availability"
    assert (
        browser.execute_script("return document.querySelector('button[data-sort=budget]')"
                               ".parentElement.getAttribute('aria-sort')")
        == "ascending"
    )  # fmt: skip
    browser.execute_script(
        "const s = document.getElementById('slo-label'); s.value = 'team=payments';"
        "s.dispatchEvent(new Event('change'))"
    )
    assert sorted(browser.execute_script(f"return {order}")) == [
        "checkout/availability",
        "checkout/latency",
    ]
    browser.execute_script(
        "const i = document.getElementById('slo-search'); i.value = 'LATENCY';"
        "i.dispatchEvent(new Event('input'))"
    )
    assert browser.execute_script(f"return {order}") == ["checkout/latency"]


def test_slo_detail_draws_history_burn_rates_and_alerts(
    engine: RunningEngine, browser: webdriver.Chrome, console: list[Any]
) -> None:
    browser.get(f"{engine.base_url}/ui/#/slo/search/availability")
    wait_for(browser, "document.querySelectorAll('#alerts-table tbody tr').length > 0")
    policy = builtin_policy()
    charts = 2 + len(policy.windows)  # SLI, budget, one burn chart per alert
    paths = wait_for(
        browser,
        f"""(() => {{ const d = [...document.querySelectorAll('#slo-charts svg path.series')]
              .map(p => p.getAttribute('d')); return d.length >= {charts + len(policy.windows)}
              && d.every(x => x.includes('L')) && d; }})()""",
    )
    assert all(len(d) > 20 for d in paths)
    alerts = browser.execute_script(
        "return [...document.querySelectorAll('#alerts-table tbody tr')]"
        ".map(tr => [...tr.cells].map(td => td.innerText.trim()))"
    )
    st = engine.status("search", "availability")
    assert [(a[0], a[6]) for a in alerts] == [
        (a.severity.upper(), "FIRING" if a.firing else "NOT FIRING") for a in st.alerts
    ]
    assert alerts[0][6] == "FIRING"  # 1h & 5m windows at ~50x > 14.4x
    thresholds = browser.execute_script(
        "return document.querySelectorAll('#slo-charts line.threshold').length"
    )
    assert thresholds == charts
    screenshot(browser, "slo-detail", full_page=True)
    # The range picker refetches and redraws (7 days: the data covers the last 6 hours).
    browser.execute_script("document.querySelector('button[data-range=\"7d\"]').click()")
    wait_for(
        browser,
        "document.querySelector('button[data-range=\"7d\"]').getAttribute('aria-pressed') === 'true'",
    )
    # Ticks of a multi-day range are dates (MM-DD), not times of day.
    wait_for(
        browser,
        "/^\\d\\d-\\d\\d$/.test([...document.querySelectorAll('#slo-charts svg text.tick')]"
        ".pop()?.textContent ?? '')",
    )


def _verdict_text(driver: webdriver.Chrome) -> str | None:
    result: str | None = driver.execute_script(
        "const b = document.querySelector(\"section[data-canary='checkout/canary/baseline'] h2 .badge\");"
        "return b ? b.innerText.trim() : null"
    )
    return result


def test_fail_verdict_appears_within_seconds_of_the_data(
    engine: RunningEngine, browser: webdriver.Chrome, console: list[Any]
) -> None:
    browser.get(f"{engine.base_url}/ui/#/canaries")
    wait_for(browser, "document.querySelector(\"section[data-canary='checkout/canary/baseline']\")")
    assert _verdict_text(browser) == "PASS"
    # A controller asks (recorded in the audit log), then the canary starts failing.
    assert engine.verdict("checkout", revision="rev-1").verdict == pb.PASS
    t1 = T0 + 300
    engine.clock.now = t1
    engine.push(
        batch("replay", 10, block("checkout", "baseline", start_s=T0, end_s=t1, rps=5, error_ratio=0.002, seed=11)),
        batch("replay", 11, block("checkout", "canary", start_s=T0, end_s=t1, rps=5, error_ratio=0.4, seed=12, revision="rev-1")),
    )  # fmt: skip
    acked = time.monotonic()
    wait_for(
        browser,
        "document.querySelector(\"section[data-canary='checkout/canary/baseline'] .verdict-fail\")",
        timeout_s=10,
    )
    seen_after_s = time.monotonic() - acked
    print(f"FAIL shown {seen_after_s:.2f}s after the data was acked")
    assert seen_after_s < 5.0, f"FAIL shown {seen_after_s:.1f}s after the data was acked"
    assert _verdict_text(browser) == "FAIL"
    guards = browser.execute_script(
        "return [...document.querySelectorAll(\"section[data-canary='checkout/canary/baseline'] table.guards tbody tr.guard\")]"
        ".map(tr => [...tr.cells].map(td => td.innerText.trim()))"
    )
    error_guard = next(g for g in guards if g[0] == "error_ratio")
    assert error_guard[1] == "FAIL" and error_guard[5] == "breached" and error_guard[6] == "worse"
    screenshot(browser, "canaries", full_page=True)

    # The controller's next look records FAIL and runs the rollback hook.
    assert engine.verdict("checkout", revision="rev-1").verdict == pb.FAIL
    browser.get(f"{engine.base_url}/ui/#/canary/checkout/canary/baseline")
    wait_for(browser, "document.querySelector('#rollbacks-table .rollback-succeeded')")
    timeline = browser.execute_script(
        "return [...document.querySelectorAll('#verdict-timeline li')].map(li => li.innerText)"
    )
    assert "PASS" in timeline[-3] and "FAIL" in timeline[-2]
    strip = browser.execute_script(
        "return [...document.querySelectorAll('#canary-strip rect.strip')].map(r => r.getAttribute('class'))"
    )
    assert strip[-1] == "strip verdict-fail" and "strip verdict-pass" in strip
    paths = wait_for(
        browser,
        "(() => { const d = [...document.querySelectorAll('#canary-charts svg path.series')]"
        ".map(p => p.getAttribute('d')); return d.length === 4 && d.every(x => x.includes('L')) && d; })()",
    )
    assert len(paths) == 4
    screenshot(browser, "canary-detail", full_page=True)


def test_audit_page_shows_the_verified_chain(
    engine: RunningEngine, browser: webdriver.Chrome, console: list[Any]
) -> None:
    engine.verdict("checkout", revision="rev-1")  # a controller's look is audited
    browser.get(f"{engine.base_url}/ui/#/audit")
    wait_for(browser, "document.querySelector('#audit-status')")
    status = browser.execute_script("return document.querySelector('#audit-status').dataset.ok")
    assert status == "true"
    actions = browser.execute_script(
        "return [...document.querySelectorAll('#audit-rows tr')].map(tr => tr.cells[3].innerText)"
    )
    assert "config_loaded" in actions and "verdict_changed" in actions
    screenshot(browser, "audit")


def test_audit_page_reports_a_tampered_line(
    engine: RunningEngine, browser: webdriver.Chrome, console: list[Any]
) -> None:
    log = engine.data_dir / "audit.jsonl"
    lines = log.read_text().splitlines()
    lines[0] = lines[0].replace("config_loaded", "config_edited")
    log.write_text("\n".join(lines) + "\n")
    browser.get(f"{engine.base_url}/ui/#/audit")
    text = wait_for(
        browser,
        "(() => { const s = document.querySelector('#audit-status');"
        " return s && s.dataset.ok === 'false' && s.innerText; })()",
    )
    assert "BROKEN at line 1" in text and "edited" in text


# Text contrast (WCAG 2.x relative luminance) of every element that directly holds text,
# against the first opaque background behind it.
CONTRAST_JS = """
const lum = (rgb) => {
  const [r, g, b] = rgb.map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const parse = (s) => s.match(/[\\d.]+/g).map(Number);
const background = (el) => {
  for (; el; el = el.parentElement) {
    const c = parse(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const worst = [];
for (const el of document.querySelectorAll('body *')) {
  if (!el.offsetParent || el.closest('svg')) continue;
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own) continue;
  const fg = lum(parse(getComputedStyle(el).color).slice(0, 3));
  const bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  if (ratio < 4.5) worst.push([el.tagName, el.className, el.textContent.trim().slice(0, 30), ratio.toFixed(2)]);
}
return worst;
"""


@pytest.mark.parametrize(
    "route", ["#/slos", "#/slo/search/availability", "#/canary/checkout/canary/baseline", "#/audit"]
)
def test_pages_are_readable_without_colour_and_with_contrast(
    engine: RunningEngine, browser: webdriver.Chrome, console: list[Any], route: str
) -> None:
    browser.get(f"{engine.base_url}/ui/{route}")
    wait_for(browser, "document.querySelector('#live').innerText.startsWith('Live')")
    assert browser.execute_script(CONTRAST_JS) == []
    # The check itself catches pale text.
    browser.execute_script(
        "const s = document.createElement('span'); s.id = 'pale'; s.style.color = '#bbb';"
        "s.textContent = 'pale'; document.getElementById('view').append(s)"
    )
    assert [e[2] for e in browser.execute_script(CONTRAST_JS)] == ["pale"]
    browser.execute_script("document.getElementById('pale').remove()")
    # States are words, charts are images with a name, tables have column headers.
    assert browser.execute_script(
        "return [...document.querySelectorAll('.badge')].every(b => b.innerText.trim().length > 0)"
    )
    assert browser.execute_script(
        "return [...document.querySelectorAll('svg')].every(s => s.getAttribute('role') === 'img'"
        " && s.getAttribute('aria-labelledby').split(' ').every(id => document.getElementById(id)"
        "?.textContent.trim()))"
    )
    assert browser.execute_script(
        "return [...document.querySelectorAll('table')].every(t => t.querySelector('th[scope=col]'))"
    )
    current = browser.execute_script(
        "return document.querySelector('nav a[aria-current=page]')?.innerText"
    )
    assert current in {"SLOs", "Canaries", "Audit log"}
