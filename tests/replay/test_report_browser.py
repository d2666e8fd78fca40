"""The HTML report in headless Chromium, offline: every chart renders with data, the
thresholds and alert spans are drawn, and the console has no error.

`REPLAY_DOCS_SCREENSHOT=1` also writes docs/img/replay-report.png (how the committed
screenshot was made).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from selenium import webdriver
from selenium.webdriver.support.ui import WebDriverWait

from sloengine.model import Catalog
from sloengine.replay import (
    CanaryTarget,
    ReplayOptions,
    history_from_frame,
    render_html,
    run_replay,
)
from sloengine.specs import load_catalog
from tests.agreement.harness import BASE_UNIX_S
from tests.agreement.test_engine_rules_agree import CATALOG, GATEWAY_TIMELINE
from tests.replay.test_canary_agreement import TIMELINE as CANARY_TIMELINE
from tests.replay.traffic import timeline_frame
from tests.ui.conftest import browser, console, screenshot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    gateway = timeline_frame(GATEWAY_TIMELINE, BASE_UNIX_S)
    canary = timeline_frame(CANARY_TIMELINE, BASE_UNIX_S, revision="r2")
    canary["service"] = "docs-api"
    history = history_from_frame(pd.concat([gateway, canary], ignore_index=True))
    slos = tuple(s for s in load_catalog([str(CATALOG)]).slos if s.service == "gateway")
    result = run_replay(
        Catalog(slos=slos),
        history,
        ReplayOptions(
            first_s=BASE_UNIX_S + 60,
            last_s=BASE_UNIX_S + GATEWAY_TIMELINE.steps * 60,
            policies=("fast-slow", "sre-workbook-30d"),
            compare=True,
            canaries=(CanaryTarget("docs-api", revision="r2"),),
        ),
    )
    path = tmp_path_factory.mktemp("report") / "replay.html"
    path.write_text(render_html(result))
    yield path


def _charts(driver: webdriver.Chrome) -> Any:
    return driver.execute_script(
        """
        return Array.from(document.querySelectorAll('.plotly-graph-div')).map(div => ({
          rendered: div.classList.contains('js-plotly-plot'),
          width: div.getBoundingClientRect().width,
          lines: Array.from(div.querySelectorAll('.scatterlayer path.js-line'))
                   .filter(p => (p.getAttribute('d') || '').length > 20).length,
          points: div.querySelectorAll('.scatterlayer path.point').length,
          shapes: div.querySelectorAll('.shapelayer path').length,
          title: (div.querySelector('.gtitle') || {}).textContent || '',
        }));
        """
    )


def test_every_chart_renders_with_data_offline(
    browser: webdriver.Chrome,  # noqa: F811
    console: list[dict[str, Any]],  # noqa: F811
    report: Path,
) -> None:
    browser.get(report.as_uri())
    WebDriverWait(browser, 30).until(
        lambda d: all(c["rendered"] for c in _charts(d)) and len(_charts(d)) > 0
    )
    charts = _charts(browser)
    slo_charts = [c for c in charts if not c["title"].startswith("canary")]
    canary_charts = [c for c in charts if c["title"].startswith("canary")]
    # One figure per SLO, the two policies side by side in it.
    assert len(slo_charts) == 2 and len(canary_charts) == 1, [c["title"] for c in charts]
    for chart in slo_charts:
        assert chart["width"] > 1000, chart
        # per policy: burn per window, budget, SLI and at least one alert span, each a line
        assert chart["lines"] >= 2 * 5, chart
        # the thresholds of both policies (2 + 4 window pairs) and two zero-budget lines
        assert chart["shapes"] >= 8, chart
    assert canary_charts[0]["points"] >= CANARY_TIMELINE.steps - 1, canary_charts[0]
    summary = browser.find_element("id", "summary").text
    assert "gateway/requests-availability" in summary
    path = screenshot(browser, "replay-report", full_page=False)
    if os.environ.get("REPLAY_DOCS_SCREENSHOT"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_IMG / "replay-report.png")
