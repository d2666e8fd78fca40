from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.controllers.engine import RunningEngine, start_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[RunningEngine]:
    running = await start_engine(tmp_path)
    try:
        yield running
    finally:
        await running.channel.close()
        await running.app.stop(1.0)
