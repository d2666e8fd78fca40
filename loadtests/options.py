"""The load test's own locust options: shown by `locust --help`, settable on the command line,
in locust.conf / pyproject.toml ([tool.locust]) and in the web UI's start form, with the old
LOADTEST_* environment variables as fallbacks (locust's LOCUST_* variables work too).

Values are parsed here, once, into a frozen Settings; a bad value raises SettingsError naming
the option, which the plugin turns into exit code 2 before any load is sent.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loadtests.expressions import (
    ThresholdError,
    ThresholdSet,
    parse_duration_seconds,
    parse_thresholds,
)
from loadtests.thresholds import (
    DEFAULT_ERROR_RATIO_LIMIT,
    DEFAULT_LAST_INTERVALS,
    DEFAULT_P95_LIMIT_SECONDS,
    default_thresholds,
)
from loadtests.traffic import PROFILES, TrafficError, parse_steps


class SettingsError(ValueError):
    """An option value that cannot be used; the message starts with the option's name."""


# (dest, env fallback, default, help); dest "loadtest_x" is the option --loadtest-x.
_OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    (
        "loadtest_profile",
        "LOADTEST_PROFILE",
        "steady",
        "Traffic profile: steady (all to -H), canary (a share to the canary host) or rollout "
        "(canary share stepping 10%% -> 30%% -> 60%% -> 100%% with pauses).",
    ),
    (
        "loadtest_warmup",
        "LOADTEST_WARMUP_S",
        "10s",
        "Time from the start that is never judged (e.g. 10s).",
    ),
    (
        "loadtest_interval",
        "LOADTEST_INTERVAL_S",
        "5s",
        "Length of one statistics interval (e.g. 5s); workers send them to the master.",
    ),
    (
        "loadtest_last_intervals",
        "LOADTEST_LAST_INTERVALS",
        str(DEFAULT_LAST_INTERVALS),
        "The verdict judges the trend over this many last intervals.",
    ),
    (
        "loadtest_p95_limit",
        "LOADTEST_P95_LIMIT_S",
        f"{DEFAULT_P95_LIMIT_SECONDS:g}s",
        "Default p95 limit for every endpoint (e.g. 1.5s or 800ms): p(95)<limit.",
    ),
    (
        "loadtest_error_ratio_limit",
        "LOADTEST_ERROR_RATIO_LIMIT",
        f"{DEFAULT_ERROR_RATIO_LIMIT:g}",
        "Default error ratio limit for every endpoint: rate<limit.",
    ),
    (
        "loadtest_thresholds",
        "LOADTEST_THRESHOLDS",
        "",
        "k6-style thresholds, inline YAML/JSON or a file path, e.g. "
        '\'{http_req_duration: ["p(95)<1500"], "http_req_failed{name:GET /search}": '
        '[{threshold: "rate<0.02", abortOnFail: true, delayAbortEval: 10s}]}\'. '
        "They override the defaults above per endpoint and aggregation.",
    ),
    (
        "loadtest_canary_host",
        "LOADTEST_CANARY_HOST",
        "",
        "Canary base URL (canary and rollout profiles).",
    ),
    (
        "loadtest_canary_weight",
        "LOADTEST_CANARY_WEIGHT",
        "0.2",
        "Canary share of requests in the canary profile (0..1).",
    ),
    (
        "loadtest_canary_weight_file",
        "LOADTEST_CANARY_WEIGHT_FILE",
        "",
        "File holding the canary weight (0..1), re-read every second; a rollback hook writes 0.",
    ),
    (
        "loadtest_rollout_steps",
        "LOADTEST_ROLLOUT_STEPS",
        "10,30,60,100",
        "Rollout profile: canary percentages, in order.",
    ),
    (
        "loadtest_rollout_pause",
        "LOADTEST_ROLLOUT_PAUSE",
        "30s",
        "Rollout profile: how long each step holds before the next.",
    ),
    ("loadtest_json", "LOADTEST_JSON", "", "Write the verdict as JSON to this path (for CI)."),
)


def add_arguments(parser: Any) -> None:
    """Register the options on locust's parser (events.init_command_line_parser)."""
    # On the parser itself, not a group: only its add_argument knows include_in_web_ui.
    for dest, env_var, default, help_text in _OPTIONS:
        flag = "--" + dest.replace("_", "-")
        # configargparse reads env_var when the flag is absent; the old LOADTEST_* name wins
        # over the default only, never over the command line or locust.conf.
        parser.add_argument(
            flag,
            dest=dest,
            type=str,
            default=os.environ.get(env_var, default),
            help=f"{help_text} [env {env_var}]",
            env_var=f"LOCUST_{dest.upper()}",  # like locust's own options
            include_in_web_ui=True,
        )


@dataclass(frozen=True)
class Settings:
    profile: str = "steady"
    warmup_seconds: float = 10.0
    interval_seconds: float = 5.0
    last_intervals: int = DEFAULT_LAST_INTERVALS
    thresholds: ThresholdSet = field(default_factory=default_thresholds)
    canary_host: str = ""
    canary_weight: float = 0.2
    canary_weight_file: str = ""
    rollout_steps: tuple[float, ...] = (0.1, 0.3, 0.6, 1.0)
    rollout_pause_seconds: float = 30.0
    json_path: str = ""

    def describe(self) -> str:
        return (
            f"profile={self.profile} warmup={self.warmup_seconds:g}s "
            f"interval={self.interval_seconds:g}s last_intervals={self.last_intervals}"
        )


def _get(options: Any, dest: str) -> str:
    value = getattr(options, dest, None)
    if value is None:
        default = next(d for name, env, d, _ in _OPTIONS if name == dest)
        env = next(env for name, env, _, _ in _OPTIONS if name == dest)
        value = os.environ.get(env, default)
    return str(value).strip()


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _duration(options: Any, dest: str, minimum_exclusive: float | None = None) -> float:
    try:
        seconds = parse_duration_seconds(_get(options, dest), _flag(dest))
    except ThresholdError as exc:
        raise SettingsError(str(exc)) from None
    if minimum_exclusive is not None and not seconds > minimum_exclusive:
        raise SettingsError(f"{_flag(dest)}: must be more than {minimum_exclusive:g}s")
    return seconds


def _ratio(options: Any, dest: str) -> float:
    raw = _get(options, dest)
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{_flag(dest)}: expected a number in [0, 1], got {raw!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise SettingsError(f"{_flag(dest)}: expected a number in [0, 1], got {raw!r}")
    return value


def load_threshold_text(text: str) -> ThresholdSet:
    """Inline YAML/JSON (starting with '{') or the path of a YAML/JSON file."""
    if not text:
        return ThresholdSet()
    if text.lstrip().startswith("{"):
        source, body = "--loadtest-thresholds", text
    else:
        path = Path(text)
        try:
            body = path.read_text()
        except OSError as exc:
            raise SettingsError(
                f"--loadtest-thresholds: cannot read {text!r}: {exc.strerror}"
            ) from None
        source = f"--loadtest-thresholds {text}"
    try:
        mapping = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{source}: not valid YAML/JSON: {exc}") from None
    if isinstance(mapping, dict) and isinstance(mapping.get("thresholds"), dict):
        mapping = mapping["thresholds"]  # a k6 options object pasted whole
    try:
        return parse_thresholds(mapping)
    except ThresholdError as exc:
        raise SettingsError(f"{source}: {exc}") from None


def settings_from(options: Any) -> Settings:
    """Settings from locust's parsed options (any missing option falls back to env/default)."""
    profile = _get(options, "loadtest_profile")
    if profile not in PROFILES:
        raise SettingsError(f"--loadtest-profile: {profile!r} is not one of {', '.join(PROFILES)}")
    raw_last = _get(options, "loadtest_last_intervals")
    try:
        last = int(raw_last)
    except ValueError:
        last = 0
    if last < 1:
        raise SettingsError(
            f"--loadtest-last-intervals: expected an integer >= 1, got {raw_last!r}"
        )
    p95_limit = _duration(options, "loadtest_p95_limit", minimum_exclusive=0.0)
    error_limit = _ratio(options, "loadtest_error_ratio_limit")
    thresholds = default_thresholds(p95_limit, error_limit).overlay(
        load_threshold_text(_get(options, "loadtest_thresholds"))
    )
    canary_host = _get(options, "loadtest_canary_host").rstrip("/")
    if profile != "steady" and not canary_host:
        raise SettingsError(f"--loadtest-canary-host: required by --loadtest-profile {profile}")
    if canary_host and not canary_host.startswith(("http://", "https://")):
        raise SettingsError(f"--loadtest-canary-host: expected an http(s) URL, got {canary_host!r}")
    try:
        steps = parse_steps(_get(options, "loadtest_rollout_steps"))
    except TrafficError as exc:
        raise SettingsError(str(exc)) from None
    return Settings(
        profile=profile,
        warmup_seconds=_duration(options, "loadtest_warmup"),
        interval_seconds=_duration(options, "loadtest_interval", minimum_exclusive=0.0),
        last_intervals=last,
        thresholds=thresholds,
        canary_host=canary_host,
        canary_weight=_ratio(options, "loadtest_canary_weight"),
        canary_weight_file=_get(options, "loadtest_canary_weight_file"),
        rollout_steps=steps,
        rollout_pause_seconds=_duration(options, "loadtest_rollout_pause", minimum_exclusive=0.0),
        json_path=_get(options, "loadtest_json"),
    )
