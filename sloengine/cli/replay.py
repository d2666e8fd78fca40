"""`sloengine replay SPEC... --from T1 --to T2 (--input FILE | --prometheus-url URL)`.

Replays the SLOs of the specs (and canaries, with `--canary`) over recorded history and
prints a summary table; `--json` and `--html` write the full reports. See docs/replay.md.
Bad input (specs, history file, flags, an unreachable Prometheus) is one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from sloengine.errors import SpecError, SpecErrors
from sloengine.model import BurnRatePolicy
from sloengine.specs.policy import load_policy_file


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "replay",
        help="replay SLOs, policies and canary guards over recorded history",
        description="Replay SLO specs over history (a CSV/Parquet file in the long format, "
        "or a Prometheus-compatible API): when each alert would have fired and resolved, "
        "budget spent, canary verdicts.",
    )
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec file or directory")
    p.add_argument("--from", dest="first", required=True, help="RFC 3339 time or unix seconds")
    p.add_argument("--to", dest="last", required=True, help="RFC 3339 time or unix seconds")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help="history file: .csv or .parquet in the long format")
    src.add_argument("--prometheus-url", help="Prometheus-compatible API base URL")
    p.add_argument("--step", default="1m", help="evaluation step (default 1m)")
    p.add_argument("--lookback", help="history read before --from (default: longest period)")
    p.add_argument("--prometheus-timeout", default="60s", help="per range query (default 60s)")
    p.add_argument(
        "--policy",
        nargs="+",
        metavar="NAME",
        help="policies to replay under (names or YAML files); default: each SLO's own",
    )
    p.add_argument(
        "--objective",
        nargs="+",
        type=float,
        metavar="PERCENT",
        help="objectives to try instead of the specs' (e.g. 99.9 99.5)",
    )
    p.add_argument(
        "--default-policy",
        metavar="NAME|FILE",
        help="policy of SLOs whose spec names none, as for `sloengine generate --policy` "
        "(default: the policy matching each SLO's period)",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="put the policies/objectives side by side (needs two or more)",
    )
    p.add_argument(
        "--canary",
        action="append",
        default=[],
        metavar="SERVICE",
        help="replay the canary verdicts of this service (repeatable)",
    )
    p.add_argument("--canary-variant", default="canary")
    p.add_argument("--baseline", default="baseline", help="baseline variant (default baseline)")
    p.add_argument("--revision", default="", help="revision reported with the verdicts")
    p.add_argument("--canary-step", help="verdict step (default: --step)")
    p.add_argument("--engine-config", help="engine config YAML whose canary: section to use")
    p.add_argument(
        "--json", dest="json_out", metavar="FILE", help="write the JSON report ('-': stdout)"
    )
    p.add_argument("--html", dest="html_out", metavar="FILE", help="write the HTML report")
    p.add_argument(
        "--save-history",
        metavar="FILE",
        help="also write the history read (.csv or .parquet, the long format), to replay "
        "it again with --input, e.g. after fetching it from Prometheus once",
    )
    p.set_defaults(func=run)


def _seconds(text: str, flag: str) -> float:
    from sloengine.durations import parse_duration_seconds
    from sloengine.replay import ReplayError

    try:
        return parse_duration_seconds(text)
    except ValueError as exc:
        raise ReplayError(flag, str(exc)) from None


def _canary_config(path: str | None) -> Any:
    from sloengine.canary import CanaryConfig, parse_canary

    if path is None:
        return CanaryConfig()
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise SpecError(path, "", f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError:
        raise SpecError(path, "", "invalid YAML") from None
    return parse_canary((raw or {}).get("canary") if isinstance(raw, dict) else None, path)


def run(args: argparse.Namespace) -> int:
    from sloengine.replay import (
        CanaryTarget,
        ReplayError,
        ReplayOptions,
        fetch_history,
        parse_time,
        read_history,
        render_html,
        result_to_json,
        run_replay,
        summary_table,
        write_history,
    )
    from sloengine.specs import load_catalog

    name: str | None = args.default_policy
    default: str | BurnRatePolicy | None = name
    if name and Path(name).is_file():
        default = load_policy_file(name)
    try:
        catalog = load_catalog(args.specs, default_policy=default)
    except SpecErrors as errs:
        for err in errs.errors:
            print(err.line(), file=sys.stderr)
        return 2
    first, last = parse_time(args.first, "--from"), parse_time(args.last, "--to")
    step = _seconds(args.step, "--step")
    policies: tuple[str | None, ...] = tuple(args.policy) if args.policy else (None,)
    objectives: tuple[float | None, ...] = (
        tuple(x / 100 for x in args.objective) if args.objective else (None,)
    )
    if args.compare and len(policies) * len(objectives) < 2:
        raise ReplayError("--compare", "needs two or more --policy or --objective values")
    if args.input:
        history = read_history(args.input)
    else:
        lookback = (
            _seconds(args.lookback, "--lookback")
            if args.lookback
            else max([s.period_seconds for s in catalog.slos] or [0.0]) + 86400.0
        )

        def progress(msg: str) -> None:
            print(f"sloengine replay: {msg}", file=sys.stderr, flush=True)

        history = fetch_history(
            args.prometheus_url,
            first - lookback,
            last,
            step,
            progress=progress,
            timeout_s=_seconds(args.prometheus_timeout, "--prometheus-timeout"),
        )
    if args.save_history:
        try:
            write_history(history.frame, args.save_history)
        except (OSError, ImportError, ValueError) as exc:
            raise ReplayError(args.save_history, f"cannot write: {exc}") from None
    options = ReplayOptions(
        first_s=first,
        last_s=last,
        step_seconds=step,
        policies=policies,
        objectives=objectives,
        canaries=tuple(
            CanaryTarget(s, args.canary_variant, args.baseline, args.revision) for s in args.canary
        ),
        canary_config=_canary_config(args.engine_config),
        canary_step_seconds=_seconds(args.canary_step, "--canary-step")
        if args.canary_step
        else None,
        compare=args.compare,
    )
    result = run_replay(catalog, history, options)
    table = summary_table(result)
    # Files first: a reader that closes stdout early (`| head`) must not lose them.
    if args.json_out and args.json_out != "-":
        _write(args.json_out, json.dumps(result_to_json(result), indent=1) + "\n")
    if args.html_out:
        _write(args.html_out, render_html(result))
    try:
        if args.json_out == "-":
            print(table, file=sys.stderr)
            json.dump(result_to_json(result), sys.stdout, indent=1)
            print()
        else:
            print(table)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would report the closed pipe again at exit: point stdout at devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _write(path: str, text: str) -> None:
    from sloengine.replay import ReplayError

    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise ReplayError(path, f"cannot write: {exc.strerror}") from None
