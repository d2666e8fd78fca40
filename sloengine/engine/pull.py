"""Pull mode: SLOs whose SLI is PromQL, computed from a Prometheus-compatible HTTP API.

For each window the policy needs (and the SLO period), the SLI's expressions from
`sloengine.generate.sli_promql` are evaluated as instant queries at the evaluation time:

    events SLI   errors/s and total/s  -> requests = total/s x window, errors likewise
    raw SLI      the error ratio itself (no event counts)

and the same burn maths as pushed SLIs turn them into an SLOStatusResult. Any API that
speaks Prometheus' `/api/v1/query` works (Prometheus, Thanos Query, Mimir, VictoriaMetrics),
which is how the engine scales past one machine: the TSDB scales out, the engine stays a
stateless evaluator in front of it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from sloengine.durations import format_duration
from sloengine.engine.evaluate import SLOStatusResult, status_from_windows, status_windows
from sloengine.errors import PrometheusError, PrometheusUnavailable
from sloengine.generate.sli_promql import error_ratio_expr, events_exprs
from sloengine.model import SLO, BurnRatePolicy, RawSLI

__all__ = ["PromPuller", "PrometheusError", "PrometheusUnavailable", "PulledWindow"]


@dataclass(frozen=True)
class PulledWindow:
    """One window's SLI at one time, as read from Prometheus.

    For an events SLI, requests/errors are the window's event counts (rate x window);
    for a raw SLI only `error_ratio` is known and the counts are 0.
    """

    window_seconds: float
    requests: float
    errors: float
    error_ratio: float
    has_data: bool


def _prom_window(seconds: float) -> str:
    try:
        return format_duration(seconds)
    except ValueError:
        return f"{round(seconds)}s"


def _vector_sum(data: Any, expr: str) -> float | None:
    """Sum of an instant query's result; None when the vector is empty."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return float(result[1])
    if kind != "vector":
        raise PrometheusError(f"query {expr!r}: expected a vector, got {kind}")
    if not result:
        return None
    values = [float(sample["value"][1]) for sample in result]
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) if finite else None


class PromPuller:
    """Evaluates PromQL SLIs against one Prometheus-compatible base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def query(self, expr: str, at_unix_s: float) -> float | None:
        """Instant query at `at_unix_s`, summed over the result vector (None: empty)."""
        try:
            resp = await self._client.post(
                f"{self.base_url}/api/v1/query", data={"query": expr, "time": f"{at_unix_s:.3f}"}
            )
        except httpx.HTTPError as exc:
            raise PrometheusUnavailable(
                f"{self.base_url}: {exc.__class__.__name__}: {exc}"
            ) from None
        try:
            body = resp.json()
        except ValueError:
            raise PrometheusUnavailable(
                f"{self.base_url}: HTTP {resp.status_code}, not a Prometheus API answer"
            ) from None
        if body.get("status") != "success":
            raise PrometheusError(f"query {expr!r}: {body.get('errorType')}: {body.get('error')}")
        return _vector_sum(body.get("data", {}), expr)

    async def window_counts(
        self, slo: SLO, window_seconds: float, at_unix_s: float
    ) -> PulledWindow:
        """The SLO's SLI over one window ending at `at_unix_s`."""
        window = _prom_window(window_seconds)
        exprs = events_exprs(slo.sli, window)
        if exprs is None or isinstance(slo.sli, RawSLI):
            ratio = await self.query(error_ratio_expr(slo.sli, window), at_unix_s)
            return PulledWindow(window_seconds, 0.0, 0.0, ratio or 0.0, ratio is not None)
        errors_rate, total_rate = await asyncio.gather(
            self.query(exprs[0], at_unix_s), self.query(exprs[1], at_unix_s)
        )
        if total_rate is None or total_rate <= 0:
            return PulledWindow(window_seconds, 0.0, 0.0, 0.0, False)
        # A good-events SLI's `total - good` can dip below 0 when scrapes are not aligned.
        errors = min(max(errors_rate or 0.0, 0.0), total_rate)
        return PulledWindow(
            window_seconds,
            requests=total_rate * window_seconds,
            errors=errors * window_seconds,
            error_ratio=errors / total_rate,
            has_data=True,
        )

    async def windows(
        self, slo: SLO, windows_seconds: Sequence[float], at_unix_s: float
    ) -> list[PulledWindow]:
        """Every window at once (queries run concurrently)."""
        return list(
            await asyncio.gather(*(self.window_counts(slo, w, at_unix_s) for w in windows_seconds))
        )

    async def evaluate(self, slo: SLO, policy: BurnRatePolicy, at_unix_s: float) -> SLOStatusResult:
        """The SLO's burn rates and budget at `at_unix_s`, like evaluate_slo for pushed SLIs."""
        pulled = await self.windows(slo, status_windows(slo, policy), at_unix_s)
        return status_from_windows(slo, policy, pulled, at_unix_s)
