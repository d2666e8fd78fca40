"""Argo Rollouts' canary steps and analysis runs, reduced to what a web metric decides.

Implemented from Argo Rollouts' source:
- metricproviders/webmetric: GET (or the metric's method) the URL with the metric's
  headers; a transport error or a status outside 200-299 is an Error measurement; the
  body is parsed as JSON and `jsonPath` (default `{$}`) selects the value;
- utils/evaluate.EvaluateResult: both conditions evaluated; only a successCondition ->
  failure = not success; only a failureCondition -> success = not failure; failure wins;
  neither -> Inconclusive;
- analysis/analysis.go assessMetricStatus: Failed when failed > failureLimit (default 0),
  Inconclusive when inconclusive > inconclusiveLimit (default 0), Error when consecutive
  errors > consecutiveErrorLimit (default 4); Successful when consecutiveSuccessLimit is
  reached; at `count`: Inconclusive when a consecutiveSuccessLimit was set and not reached,
  else Successful; with no count the metric runs until the rollout ends it;
- rollout canary steps: setWeight, pause {duration}, analysis (an inline run; Successful
  goes on, Failed/Error aborts, Inconclusive pauses the rollout); a background analysis
  from `startingStep`; the last step done -> promoted (100%).

Conditions are evaluated by a small translator that accepts only comparisons of `result`
with literals joined by && / || / ! (what the shipped templates use), never `eval` of
anything else.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from sloengine.durations import parse_duration_seconds

SUCCESSFUL = "Successful"
FAILED = "Failed"
INCONCLUSIVE = "Inconclusive"
ERROR = "Error"
RUNNING = "Running"
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4


# --- jsonPath and conditions ---------------------------------------------------------------
def json_path(doc: Any, expression: str) -> Any:
    """Kubernetes JSONPath of the `{$.a.b}` / `{.a.b}` form (what web metrics use)."""
    match = re.fullmatch(r"\{\$?((?:\.[A-Za-z0-9_-]+)*)\}", expression.strip())
    if match is None:
        raise ValueError(f"unsupported jsonPath {expression!r}")
    value = doc
    for key in filter(None, match.group(1).split(".")):
        if not isinstance(value, dict) or key not in value:
            raise LookupError(f"{key} is not found")
        value = value[key]
    return value


_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Eq,
    ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Name, ast.Load, ast.Constant,
)  # fmt: skip


def evaluate_condition(condition: str, result: Any) -> bool:
    """An expr-lang condition over `result` (comparisons, &&, ||, !), evaluated safely."""
    text = condition.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!(?!=)", " not ", text)
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED) or (isinstance(node, ast.Name) and node.id != "result"):
            raise ValueError(f"unsupported condition {condition!r}")
    return bool(
        eval(compile(tree, "<condition>", "eval"), {"__builtins__": {}}, {"result": result})
    )


def evaluate_result(metric: dict[str, Any], result: Any) -> str:
    """utils/evaluate.EvaluateResult."""
    success_text, failure_text = metric.get("successCondition"), metric.get("failureCondition")
    success = evaluate_condition(success_text, result) if success_text else False
    failure = evaluate_condition(failure_text, result) if failure_text else False
    if not success_text and not failure_text:
        return SUCCESSFUL
    if success_text and not failure_text:
        failure = not success
    if failure_text and not success_text:
        success = not failure
    if failure:
        return FAILED
    if not success:
        return INCONCLUSIVE
    return SUCCESSFUL


# --- templates -----------------------------------------------------------------------------
def substitute(value: Any, args: dict[str, str]) -> Any:
    """Replace {{args.NAME}} everywhere in a template's metric."""
    if isinstance(value, str):
        return re.sub(r"\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}", lambda m: args[m.group(1)], value)
    if isinstance(value, list):
        return [substitute(v, args) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, args) for k, v in value.items()}
    return value


def resolve_args(
    template: dict[str, Any], given: list[dict[str, Any]], *, secrets: dict[tuple[str, str], str],
    pod_template_hash: str,
) -> dict[str, str]:  # fmt: skip
    """Template defaults, overridden by the Rollout's args; valueFrom resolved."""
    out: dict[str, str] = {}
    for arg in [*template["spec"].get("args", []), *given]:
        if "value" in arg:
            out[arg["name"]] = str(arg["value"])
        elif "valueFrom" in arg:
            source = arg["valueFrom"]
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                out[arg["name"]] = secrets[(ref["name"], ref["key"])]
            elif "podTemplateHashValue" in source:
                out[arg["name"]] = pod_template_hash
    missing = [a["name"] for a in template["spec"].get("args", []) if a["name"] not in out]
    if missing:
        raise ValueError(f"args without a value: {missing}")
    return out


# --- one metric's run ----------------------------------------------------------------------
@dataclass
class Measurement:
    phase: str
    value: Any
    status: int | None


@dataclass
class MetricRun:
    metric: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    failed: int = 0
    inconclusive: int = 0
    consecutive_error: int = 0
    consecutive_success: int = 0
    count: int = 0
    phase: str = RUNNING

    @property
    def interval_seconds(self) -> float:
        return parse_duration_seconds(self.metric.get("interval", "0s"))

    async def measure(self, client: httpx.AsyncClient) -> Measurement:
        web = self.metric["provider"]["web"]
        headers = {h["key"]: h["value"] for h in web.get("headers", [])}
        try:
            response = await client.request(
                web.get("method", "GET"), web["url"], headers=headers,
                timeout=float(web.get("timeoutSeconds", 10)),
            )  # fmt: skip
        except httpx.HTTPError:
            return self._record(Measurement(ERROR, None, None))
        if not 200 <= response.status_code < 300:
            return self._record(Measurement(ERROR, None, response.status_code))
        try:
            value = json_path(json.loads(response.content), web.get("jsonPath", "{$}"))
            phase = evaluate_result(self.metric, value)
        except (ValueError, LookupError):
            return self._record(Measurement(ERROR, None, response.status_code))
        return self._record(Measurement(phase, value, response.status_code))

    def _record(self, m: Measurement) -> Measurement:
        self.measurements.append(m)
        if m.phase == ERROR:
            self.consecutive_error += 1
            self.consecutive_success = 0
        else:
            self.consecutive_error = 0
            self.count += 1
            self.failed += m.phase == FAILED
            self.inconclusive += m.phase == INCONCLUSIVE
            self.consecutive_success = self.consecutive_success + 1 if m.phase == SUCCESSFUL else 0
        self.phase = self._assess()
        return m

    def _limit(self, key: str, default: int) -> int:
        return int(self.metric.get(key, default))

    def _assess(self) -> str:
        """assessMetricStatus + assessMetricFailureInconclusiveOrError."""
        phase = ""
        failure_limit = self._limit("failureLimit", 0)
        if failure_limit >= 0 and self.failed > failure_limit:
            phase = FAILED
        if self.inconclusive > self._limit("inconclusiveLimit", 0):
            phase = INCONCLUSIVE
        if self.consecutive_error > self._limit(
            "consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT
        ):
            phase = ERROR
        if phase:
            return phase
        success_limit = self._limit("consecutiveSuccessLimit", 0)
        if success_limit > 0 and self.consecutive_success >= success_limit:
            return SUCCESSFUL
        count = self.metric.get("count")
        if count is not None and self.count >= int(count):
            return INCONCLUSIVE if success_limit > 0 else SUCCESSFUL
        return RUNNING


# --- the rollout ---------------------------------------------------------------------------
@dataclass
class AnalysisRun:
    """One template's run (every metric of it), measured on its interval."""

    metrics: list[MetricRun]
    started_at: float
    next_at: dict[int, float] = field(default_factory=dict)

    @property
    def phase(self) -> str:
        phases = [m.phase for m in self.metrics]
        for worst in (ERROR, FAILED, INCONCLUSIVE, RUNNING):
            if worst in phases:
                return worst
        return SUCCESSFUL

    async def run_due(self, client: httpx.AsyncClient, now: float) -> None:
        for i, metric in enumerate(self.metrics):
            if metric.phase != RUNNING or now < self.next_at.get(i, self.started_at):
                continue
            m = await metric.measure(client)
            # Argo retries an Error after 10 s (DefaultErrorRetryInterval), else the interval.
            self.next_at[i] = now + (10.0 if m.phase == ERROR else metric.interval_seconds)


@dataclass
class ArgoRollout:
    rollout: dict[str, Any]
    templates: dict[str, dict[str, Any]]
    client: httpx.AsyncClient
    engine_url: str
    secrets: dict[tuple[str, str], str]
    pod_template_hash: str
    step_index: int = 0
    weight: int = 0
    status: str = "Progressing"  # Progressing | Paused | Degraded (aborted) | Healthy
    pause_until: float | None = None
    step_run: AnalysisRun | None = None
    background: AnalysisRun | None = None
    history: list[tuple[int, str]] = field(default_factory=list)

    @property
    def canary(self) -> dict[str, Any]:
        strategy: dict[str, Any] = self.rollout["spec"]["strategy"]["canary"]
        return strategy

    def _start(
        self, refs: list[dict[str, Any]], args: list[dict[str, Any]], now: float
    ) -> AnalysisRun:
        metrics = []
        for ref in refs:
            template = self.templates[ref["templateName"]]
            values = resolve_args(
                template, args, secrets=self.secrets, pod_template_hash=self.pod_template_hash
            )
            for metric in template["spec"]["metrics"]:
                m = substitute(metric, values)
                url = m["provider"]["web"]["url"]
                m["provider"]["web"]["url"] = self.engine_url + url[url.index("/api/") :]
                metrics.append(MetricRun(m))
        return AnalysisRun(metrics, now)

    def _abort(self, why: str) -> None:
        self.status, self.weight = "Degraded", 0
        self.history.append((self.step_index, f"aborted: {why}"))

    async def tick(self, now: float) -> None:
        """Reconcile once at time `now` (seconds): analyses due, then the current step."""
        if self.status in ("Degraded", "Healthy", "Paused"):
            return
        background = self.canary.get("analysis")
        start_step = int((background or {}).get("startingStep", 0))
        if background and self.background is None and self.step_index >= start_step:
            self.background = self._start(background["templates"], background.get("args", []), now)
        if self.background is not None:
            await self.background.run_due(self.client, now)
            if self.background.phase in (FAILED, ERROR):
                return self._abort(f"background analysis {self.background.phase}")
            if self.background.phase == INCONCLUSIVE:
                self.status = "Paused"
                return
        steps = self.canary["steps"]
        while self.step_index < len(steps):
            step = steps[self.step_index]
            if "setWeight" in step:
                self.weight = int(step["setWeight"])
            elif "pause" in step:
                if self.pause_until is None:
                    self.pause_until = now + parse_duration_seconds(step["pause"]["duration"])
                if now < self.pause_until:
                    return
                self.pause_until = None
            elif "analysis" in step:
                if self.step_run is None:
                    a = step["analysis"]
                    self.step_run = self._start(a["templates"], a.get("args", []), now)
                await self.step_run.run_due(self.client, now)
                phase = self.step_run.phase
                if phase == RUNNING:
                    return
                self.step_run = None
                self.history.append((self.step_index, phase))
                if phase in (FAILED, ERROR):
                    return self._abort(f"step analysis {phase}")
                if phase == INCONCLUSIVE:
                    self.status = "Paused"
                    return
            self.step_index += 1
        self.weight, self.status = 100, "Healthy"
