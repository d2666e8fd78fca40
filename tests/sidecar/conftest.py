"""Fixtures: a recording app (+ a downstream one) and a sidecar process in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sidecar.harness import RecordingApp, SidecarProcess


@pytest.fixture(scope="module")
def downstream() -> Iterator[RecordingApp]:
    app = RecordingApp().start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def app() -> Iterator[RecordingApp]:
    app = RecordingApp().start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def sidecar(app: RecordingApp) -> Iterator[SidecarProcess]:
    proc = SidecarProcess(app.url).start()
    app.egress = proc.addresses["egress"]
    yield proc
    proc.terminate()
