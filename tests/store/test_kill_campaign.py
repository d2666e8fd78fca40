"""A bounded slice of bench/bench_kill_campaign.py in CI (fixed seed, two kills).

kill -9 of a real `sloengine serve` snapshotting every second, mid-stream, with reads
alongside and new series arriving: the data directory holds exactly the acked batches
(plus those in doubt that a resend shows were durable), and a full resend is all DUPLICATE.
The full campaign (100 kills) is `bench/bench_kill_campaign.py --runs 5 --kills 20`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_kill_campaign import campaign_run

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)
async def test_two_kills_with_snapshots_every_second_keep_exact_totals(tmp_path: Path) -> None:
    log: list[str] = []
    stats = await campaign_run(tmp_path, seed=7, kills=2, log=log)
    assert stats["kills"] == 2 and stats["acked"] > 0
    assert stats["duplicates"] == stats["acked"]
    assert len(log) == 2
