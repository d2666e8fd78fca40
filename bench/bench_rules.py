"""Rules bench: generation speed, and rule-evaluation cost in a real Prometheus, ours vs Sloth.

1. Generation: render rules for 1,000 synthetic native SLOs (median of 5 runs), SLOs/s.
2. Evaluation: the same SLOs as our rules and as Sloth-shaped rules (the exact structure of
   corpus/sloth/_gen/getting-started.yml: per-window ratio rules over raw series, a 30d
   average of 5m ratios, meta recordings, two alerts), each in its own Prometheus, both
   running at once over copies of the same backfilled history (`promtool tsdb
   create-blocks-from openmetrics`), so both pay the same machine noise and each process's
   CPU time is one side's cost. The history holds the raw counters and what each side's
   rules would have recorded (Sloth: its 5m ratio every evaluation; us: 5m event counts
   every period-group evaluation), so the period rules read a steady state's samples.
   Printed, as ours/sloth: the median round's sum of `prometheus_rule_group_last_duration_seconds`,
   the same with each group's duration divided by its interval (our period groups run less
   often: cost per second), and the processes' CPU seconds over the sampling period.

    .venv/bin/python bench/bench_rules.py [--quick] [--slos N] [--history-hours H]

The alert windows (5m ... 3d) of both sides read the same raw series the same way.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sloengine.generate import GenerateOptions, render_alert_files  # noqa: E402
from sloengine.generate.serialize import dump_yaml  # noqa: E402
from sloengine.generate.sli_promql import events_exprs  # noqa: E402
from sloengine.model import SLO, Catalog, NativeSLI  # noqa: E402
from sloengine.specs.policy import builtin_policy  # noqa: E402
from tests.support.prometheus import PROMTOOL_BIN, PrometheusServer  # noqa: E402

ROUTES = ("/a", "/b")
STATUSES = (("200", 0.995), ("500", 0.005))


def synthetic_catalog(count: int) -> Catalog:
    """`count` native availability SLOs, one per service (`svc-<i>`)."""
    slos = tuple(
        SLO(
            service=f"svc-{i}",
            name="requests-availability",
            objective_ratio=0.999,
            sli=NativeSLI("availability", selector=(("service", f"svc-{i}"),)),
            labels=(("team", f"team-{i % 7}"),),
        )
        for i in range(count)
    )
    return Catalog(slos=slos)


def bench_generation(count: int, runs: int) -> float:
    catalog = synthetic_catalog(count)
    options = GenerateOptions()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        render_alert_files(catalog, options)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- Sloth-shaped rules (structure of corpus/sloth/_gen/getting-started.yml) -----------------


def sloth_groups(slo: SLO) -> list[dict[str, object]]:
    policy = builtin_policy("sre-workbook-30d")
    sloth_id = f"{slo.service}-{slo.name}"
    ident = {"sloth_id": sloth_id, "sloth_service": slo.service, "sloth_slo": slo.name}
    sel = f'{{sloth_id="{sloth_id}", sloth_service="{slo.service}", sloth_slo="{slo.name}"}}'
    labels = {**dict(slo.labels), **ident}
    budget = 1 - slo.objective_ratio
    sli_rules: list[dict[str, object]] = []
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        exprs = events_exprs(slo.sli, window)
        assert exprs is not None
        errors, total = exprs
        sli_rules.append(
            {
                "record": f"slo:sli_error:ratio_rate{window}",
                "expr": f"({errors})\n/\n({total})\n",
                "labels": {**labels, "sloth_window": window},
            }
        )
    sli_rules.append(
        {
            "record": "slo:sli_error:ratio_rate30d",
            "expr": f"sum_over_time(slo:sli_error:ratio_rate5m{sel}[30d])\n/ ignoring (sloth_window)\n"
            f"count_over_time(slo:sli_error:ratio_rate5m{sel}[30d])\n",
            "labels": {**labels, "sloth_window": "30d"},
        }
    )
    on = "on(sloth_id, sloth_slo, sloth_service) group_left"
    meta = [
        {
            "record": "slo:objective:ratio",
            "expr": f"vector({slo.objective_ratio})",
            "labels": labels,
        },
        {
            "record": "slo:error_budget:ratio",
            "expr": f"vector(1-{slo.objective_ratio})",
            "labels": labels,
        },
        {"record": "slo:time_period:days", "expr": "vector(30)", "labels": labels},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate5m{sel}\n/ {on}\nslo:error_budget:ratio{sel}\n",
            "labels": labels,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate30d{sel}\n/ {on}\nslo:error_budget:ratio{sel}\n",
            "labels": labels,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{sel}",
            "labels": labels,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {**labels, "sloth_objective": "99.9"},
        },
    ]
    alerts = []
    for severity in ("page", "ticket"):
        pairs = []
        for w in (w for w in policy.windows if w.severity == severity):
            short, long = (
                f"{int(s // 60)}m"
                if s < 3600
                else f"{int(s // 3600)}h"
                if s < 86400
                else f"{int(s // 86400)}d"
                for s in (w.short_window_seconds, w.long_window_seconds)
            )
            pairs.append(
                "(\n"
                f"    max(slo:sli_error:ratio_rate{short}{sel} > ({w.factor:g} * {budget})) without (sloth_window)\n"
                "    and\n"
                f"    max(slo:sli_error:ratio_rate{long}{sel} > ({w.factor:g} * {budget})) without (sloth_window)\n"
                ")"
            )
        alerts.append(
            {
                "alert": "SLOErrorBudgetBurn",
                "expr": "\nor\n".join(pairs) + "\n",
                "labels": {"severity": severity, "sloth_severity": severity, "sloth_slo": slo.name},
                "annotations": {
                    "title": f"({severity}) {{{{$labels.sloth_service}}}} burn rate is too fast."
                },
            }
        )
    return [
        {"name": f"sloth-slo-sli-recordings-{sloth_id}", "rules": sli_rules},
        {"name": f"sloth-slo-meta-recordings-{sloth_id}", "rules": meta},
        {"name": f"sloth-slo-alerts-{sloth_id}", "rules": alerts},
    ]


# --- Backfilled history ------------------------------------------------------------------------


def _counter_lines(services: int, steps: int, step_s: int, start: int) -> Iterator[str]:
    for i in range(services):
        rps = 5 + i % 11
        for route in ROUTES:
            for status, share in STATUSES:
                series = (
                    f'http_requests_total{{service="svc-{i}",route="{route}",status="{status}"}}'
                )
                per_step = rps * share * step_s
                for k in range(steps + 1):
                    yield f"{series} {per_step * k:.3f} {start + k * step_s}\n"


def _recorded_lines(
    catalog: Catalog, end: int, seconds: float, eval_s: int, period_s: int
) -> Iterator[str]:
    """What each side's rules would have recorded over the history, at its own interval:
    Sloth's 5m ratio every evaluation, our 5m event counts every period-group evaluation.
    (OpenMetrics wants each family's lines together, each series' samples in time order.)"""

    def teams(slo: SLO) -> str:
        return dict(slo.labels)["team"]

    for slo in catalog.slos:
        sloth = (
            f'slo:sli_error:ratio_rate5m{{sloth_id="{slo.id}",sloth_service="{slo.service}",'
            f'sloth_slo="{slo.name}",sloth_window="5m",team="{teams(slo)}"}}'
        )
        steps = int(seconds // eval_s)
        for k in range(steps, 0, -1):
            yield f"{sloth} 0.005 {end - k * eval_s}\n"
    for name, value in (
        ("slo:sli_error_events:increase5m", 15),
        ("slo:sli_total_events:increase5m", 3000),
    ):
        for slo in catalog.slos:
            ours = f'{name}{{slo_name="{slo.name}",slo_service="{slo.service}",slo_window="5m",team="{teams(slo)}"}}'
            steps = int(seconds // period_s)
            for k in range(steps, 0, -1):
                yield f"{ours} {value} {end - k * period_s}\n"


def write_openmetrics(path: Path, lines: Iterable[str]) -> int:
    """An OpenMetrics file for `promtool tsdb create-blocks-from openmetrics`."""
    count = 0
    with path.open("w") as f:
        for line in lines:
            f.write(line)
            count += 1
        f.write("# EOF\n")
    return count


def _rule_durations(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    pattern = re.compile(
        r'^prometheus_rule_group_last_duration_seconds\{rule_group="([^"]+)"\} (\S+)$', re.M
    )
    return {m.group(1): float(m.group(2)) for m in pattern.finditer(text)}


@dataclass(frozen=True)
class Evaluation:
    ours_s: float  # median over rounds of the summed group durations
    sloth_s: float
    ratio: float  # median over rounds of ours/sloth (both measured in the same round)
    ratio_per_second: float  # same, each group's duration divided by its interval
    cpu_ratio: float  # process CPU seconds over the sampling period, ours/sloth
    rounds: int
    samples: int


def bench_evaluation(
    slos: int, hours: float, seconds: float, interval_s: int, period_interval_s: int
) -> Evaluation:
    catalog = synthetic_catalog(slos)
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        work = Path(tmp)
        rules = work / "rules"
        rules.mkdir()
        options = GenerateOptions(canary=None, period_interval=f"{period_interval_s}s")
        for name, text in render_alert_files(catalog, options).items():
            if name.endswith(".rules.yml"):
                (rules / f"ours-{name}").write_text(text)
        sloth = {"groups": [g for slo in catalog.slos for g in sloth_groups(slo)]}
        (rules / "sloth.rules.yml").write_text(dump_yaml(sloth))
        check = subprocess.run(
            [PROMTOOL_BIN, "check", "rules", *map(str, sorted(rules.iterdir()))],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise SystemExit(f"promtool check rules failed:\n{check.stdout}{check.stderr}")

        om = work / "history.om"
        end = int(time.time()) - 120
        steps = int(hours * 3600 // 60)
        history = itertools.chain(
            _counter_lines(slos, steps, 60, end - steps * 60),
            _recorded_lines(catalog, end, hours * 3600, interval_s, period_interval_s),
        )
        samples = write_openmetrics(om, history)
        data = work / "prom" / "data"
        data.mkdir(parents=True)
        backfill = subprocess.run(
            [PROMTOOL_BIN, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
            capture_output=True,
            text=True,
        )
        if backfill.returncode != 0:
            raise SystemExit(f"backfill failed:\n{backfill.stderr[-2000:]}")
        om.unlink()

        # Two Prometheus processes side by side, one per rule set, each on its own copy of
        # the history: same machine noise, and each process's CPU is one side's cost.
        shutil.copytree(work / "prom", work / "prom-sloth")
        ours_rules = sorted(rules.glob("ours-*.rules.yml"))
        interval = f"{interval_s}s"
        ratios: list[float] = []
        per_second: list[float] = []
        ours_rounds: list[float] = []
        sloth_rounds: list[float] = []
        with (
            PrometheusServer(
                work / "prom", rule_files=ours_rules, evaluation_interval=interval
            ) as ours_prom,
            PrometheusServer(
                work / "prom-sloth",
                rule_files=[rules / "sloth.rules.yml"],
                evaluation_interval=interval,
            ) as sloth_prom,
        ):
            ours_prom.wait_rules_evaluated(timeout_s=2 * period_interval_s + 60)
            sloth_prom.wait_rules_evaluated(timeout_s=60)
            cpu_start = (_cpu_seconds(ours_prom.url), _cpu_seconds(sloth_prom.url))
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(interval_s)
                ours_durations = _rule_durations(ours_prom.url)
                ours = sum(ours_durations.values())
                sloth = sum(_rule_durations(sloth_prom.url).values())
                ours_rate = sum(
                    v / (period_interval_s if k.endswith("-period") else interval_s)
                    for k, v in ours_durations.items()
                )
                ours_rounds.append(ours)
                sloth_rounds.append(sloth)
                ratios.append(ours / sloth)
                per_second.append(ours_rate / (sloth / interval_s))
            cpu_ours = _cpu_seconds(ours_prom.url) - cpu_start[0]
            cpu_sloth = _cpu_seconds(sloth_prom.url) - cpu_start[1]
        return Evaluation(
            statistics.median(ours_rounds),
            statistics.median(sloth_rounds),
            statistics.median(ratios),
            statistics.median(per_second),
            cpu_ours / cpu_sloth,
            len(ratios),
            samples,
        )


def _cpu_seconds(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    match = re.search(r"^process_cpu_seconds_total (\S+)$", text, re.M)
    return float(match.group(1)) if match else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small, fast smoke run")
    parser.add_argument("--slos", type=int, default=50)
    parser.add_argument("--history-hours", type=float, default=24)
    parser.add_argument("--seconds", type=float, default=120, help="how long to sample evaluations")
    args = parser.parse_args()
    if shutil.which("prometheus") is None:
        print("prometheus not installed", file=sys.stderr)
        return 1
    count = 100 if args.quick else 1000
    gen = bench_generation(count, 3 if args.quick else 5)
    print(f"generation: {count} SLOs in {gen * 1000:.0f} ms (median) = {count / gen:,.0f} SLOs/s")

    slos = 10 if args.quick else args.slos
    hours = 6 if args.quick else args.history_hours
    seconds = 45 if args.quick else args.seconds
    ev = bench_evaluation(slos, hours, seconds, interval_s=15, period_interval_s=60)
    print(
        f"evaluation: {slos} SLOs, {ev.samples:,} backfilled samples ({hours:g}h of raw series at 1m and "
        f"of each side's recorded 5m series), {ev.rounds} rounds at 15s: median per round ours "
        f"{ev.ours_s * 1000:.1f} ms, sloth {ev.sloth_s * 1000:.1f} ms; median ratio ours/sloth "
        f"{ev.ratio:.2f} per round, {ev.ratio_per_second:.2f} per second of wall time "
        "(our period groups run every 1m here, 5m by default); "
        f"Prometheus CPU seconds ours/sloth {ev.cpu_ratio:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
