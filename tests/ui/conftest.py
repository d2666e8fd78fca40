"""A real engine (EngineApp, canary + UI plugins) in a background thread, and headless Chromium.

The engine runs its own asyncio loop in a thread so that the blocking selenium calls of the
tests do not stall it; data arrives over the gRPC ingest API like a sidecar's (PushRequest
batches with explicit timestamps). The engine clock is a `SettableClock` the tests move.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from sloengine.app import EngineApp
from sloengine.model import Catalog
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import EngineConfig

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class SettableClock:
    """The engine's clock: pinned, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class RunningEngine:
    app: EngineApp
    clock: SettableClock
    loop: asyncio.AbstractEventLoop
    channel: grpc.Channel
    data_dir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.app.http_port}"

    def push(self, *requests: pb.PushRequest) -> list[pb.PushAck]:
        """Send the batches on one Push stream; every ack must be ACCEPTED."""
        acks = list(pb_grpc.IngestServiceStub(self.channel).Push(iter(requests), timeout=30))
        bad = [a for a in acks if a.status != pb.PushAck.ACCEPTED]
        assert not bad, f"rejected batches: {[a.message for a in bad]}"
        assert len(acks) == len(requests)
        return acks

    def status(self, service: str, name: str) -> pb.SLOStatus:
        resp = pb_grpc.SLOServiceStub(self.channel).GetStatus(
            pb.GetStatusRequest(service=service, slo=name), timeout=10
        )
        assert len(resp.statuses) == 1
        return resp.statuses[0]

    def verdict(self, service: str, revision: str = "") -> pb.CanaryVerdict:
        """Ask like a canary controller: a live verdict, recorded and acted upon."""
        return pb_grpc.CanaryServiceStub(self.channel).GetVerdict(
            pb.GetVerdictRequest(service=service, revision=revision), timeout=10
        )

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


def _start_loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    ready: Future[None] = Future()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set_result, None)
        loop.run_forever()

    thread = threading.Thread(target=run, name="ui-test-engine", daemon=True)
    thread.start()
    ready.result(timeout=10)
    return loop, thread


@pytest.fixture(scope="module")
def engine_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RunningEngine]]:
    """Start in-process engines on port 0 (stopped at module teardown)."""
    loop, thread = _start_loop()
    engines: list[RunningEngine] = []

    def start(
        catalog: Catalog | None = None,
        *,
        now: float,
        raw: dict[str, Any] | None = None,
        specs: tuple[Path, ...] = (),
    ) -> RunningEngine:
        data_dir = tmp_path_factory.mktemp("engine-data")
        config = EngineConfig(
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            data_dir=data_dir,
            specs=specs,
            snapshot_interval_seconds=0,
            raw=raw or {},
        )
        clock = SettableClock(now)

        async def create() -> EngineApp:
            app = EngineApp(config, clock=clock, registry=CollectorRegistry(), catalog=catalog)
            await app.start()
            return app

        app = asyncio.run_coroutine_threadsafe(create(), loop).result(timeout=60)
        channel = grpc.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        engine = RunningEngine(app, clock, loop, channel, data_dir)
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        engine.channel.close()
        engine.run(engine.app.stop(0))
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with the browser console captured (goog:loggingPrefs ALL)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def console(browser: webdriver.Chrome) -> Iterator[list[dict[str, Any]]]:
    """The test's browser console entries; fails the test on any SEVERE one."""
    browser.get_log("browser")  # drop what earlier tests left
    entries: list[dict[str, Any]] = []
    yield entries
    entries.extend(browser.get_log("browser"))
    severe = [e for e in entries if e.get("level") == "SEVERE"]
    assert not severe, "browser console errors:\n" + json.dumps(severe, indent=1)


def screenshot(
    driver: webdriver.Chrome, name: str, *, full_page: bool = False, height: int | None = None
) -> Path:
    """Save the page as artifacts/screenshots/<name>.png (git-ignored; CI keeps it).

    `full_page` grows the window to the document's height for the shot; `height` crops it.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = driver.get_window_size()
    if full_page:
        height = int(driver.execute_script("return document.documentElement.scrollHeight")) + 200
    if height is not None:
        driver.set_window_size(size["width"], height)
    try:
        driver.save_screenshot(str(path))
    finally:
        if height is not None:
            driver.set_window_size(size["width"], size["height"])
    return path


def wait_for(
    driver: webdriver.Chrome, script: str, timeout_s: float = 60.0, poll_s: float = 0.05
) -> Any:
    """Poll a JavaScript expression until it is truthy; return its value."""
    return WebDriverWait(driver, timeout_s, poll_frequency=poll_s).until(
        lambda d: d.execute_script(f"return {script}")
    )
