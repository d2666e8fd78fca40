"""A CI-sized slice of bench/bench_verdicts.py (one analysis per family, fixed seed): the
families go through the real engine's gRPC API live, and the issue's goals hold."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_verdicts.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_verdicts", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_verdicts"] = module
    spec.loader.exec_module(module)
    return module


async def test_bench_slice_meets_the_goals_through_the_engine() -> None:
    bench = load_bench()
    analyses, _, latencies = await bench.run(1, 20270115)
    assert latencies, "no verdict was asked"
    for a in analyses:
        ours = a.first_fail_s.get("ours")
        if not a.family.bad:
            assert ours is None, f"{a.family.name}: false FAIL at {ours}s"
        elif not bench.low_traffic(a.family):
            assert ours is not None, f"{a.family.name}: never FAILed"
            if a.family.name == bench.BLATANT:
                assert ours <= 60, ours
            if a.family.name == bench.FAST_50RPS:
                assert ours <= 90, ours
