"""Flagger's canary scheduler, reduced to what decides a webhook-gated analysis.

Implemented from Flagger's source (pkg/controller/scheduler.go, scheduler_hooks.go,
webhook.go), for a Canary with `stepWeights`, no metrics and no mirroring:

- the webhook client POSTs JSON {name, namespace, phase, checksum, metadata} with only a
  Content-Type header, and treats a status above 202 (or no answer) as an error;
- a new revision first runs `confirm-rollout` hooks with the current phase (error: phase
  Waiting, try again next interval), then is scaled up and becomes Progressing;
- each interval while Progressing/Waiting/WaitingPromotion: `rollback` hooks first (no
  error = roll back now); then, while Progressing/WaitingPromotion, `failedChecks >=
  threshold` rolls back; then `pre-rollout` hooks at weight 0 with no iterations, else
  `rollout` hooks (error: failedChecks + 1, stop this interval); then, unless promoting,
  `confirm-traffic-increase` (error: wait); below max weight the weight steps up, at max
  weight `confirm-promotion` (error: phase WaitingPromotion, wait) else promote;
- Promoting routes all traffic to the primary (Finalising), then Succeeded; Failed
  routes all traffic back to the primary. Both run `post-rollout` hooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from sloengine.durations import parse_duration_seconds

PROGRESSING = "Progressing"
WAITING = "Waiting"
WAITING_PROMOTION = "WaitingPromotion"
PROMOTING = "Promoting"
FINALISING = "Finalising"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
INITIALIZED = "Initialized"
TOTAL_WEIGHT = 100


@dataclass(frozen=True)
class Webhook:
    type: str
    name: str
    url: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class CanarySpec:
    name: str
    namespace: str
    interval_seconds: float
    threshold: int
    step_weights: tuple[int, ...]
    webhooks: tuple[Webhook, ...]

    @classmethod
    def from_manifest(cls, doc: dict[str, Any], engine_url: str) -> CanarySpec:
        """The Canary object, its webhook URLs pointed at `engine_url` (scheme://host:port)."""
        analysis = doc["spec"]["analysis"]
        hooks = []
        for hook in analysis["webhooks"]:
            path = urlsplit(hook["url"]).path
            hooks.append(
                Webhook(hook.get("type", "rollout"), hook["name"], engine_url + path,
                        dict(hook.get("metadata") or {}))
            )  # fmt: skip
        return cls(
            name=doc["metadata"]["name"],
            namespace=doc["metadata"]["namespace"],
            interval_seconds=parse_duration_seconds(analysis["interval"]),
            threshold=int(analysis["threshold"]),
            step_weights=tuple(analysis["stepWeights"]),
            webhooks=tuple(hooks),
        )


@dataclass
class HookCall:
    type: str
    phase: str
    status: int | None
    ok: bool
    request_headers: dict[str, str]


@dataclass
class FlaggerCanary:
    """One Canary object's status, advanced one interval at a time by `tick`."""

    spec: CanarySpec
    client: httpx.AsyncClient
    checksum: str
    phase: str = INITIALIZED
    canary_weight: int = 0
    failed_checks: int = 0
    iterations: int = 0
    calls: list[HookCall] = field(default_factory=list)

    # --- the webhook client (webhook.go) --------------------------------------------------
    async def _call(self, hook: Webhook, phase: str) -> bool:
        payload = {
            "name": self.spec.name,
            "namespace": self.spec.namespace,
            "phase": phase,
            "checksum": self.checksum,
        }
        if hook.metadata:
            payload["metadata"] = hook.metadata  # type: ignore[assignment]
        request = self.client.build_request(
            "POST", hook.url, json=payload, headers={"Content-Type": "application/json"}
        )
        # Flagger's client sends no other header of its own (no Authorization).
        sent = {k.lower(): v for k, v in request.headers.items()}
        try:
            response = await self.client.send(request)
        except httpx.HTTPError:
            self.calls.append(HookCall(hook.type, phase, None, False, sent))
            return False
        ok = response.status_code <= 202
        self.calls.append(HookCall(hook.type, phase, response.status_code, ok, sent))
        return ok

    async def _all_ok(self, hook_type: str, phase: str) -> bool:
        """Hooks of a type in order; the first error stops (scheduler_hooks.go)."""
        for hook in self.spec.webhooks:
            if hook.type == hook_type and not await self._call(hook, phase):
                return False
        return True

    async def _any_ok(self, hook_type: str, phase: str) -> bool:
        """runRollbackHooks: the first hook that answers without error signals a rollback."""
        for hook in self.spec.webhooks:
            if hook.type == hook_type and await self._call(hook, phase):
                return True
        return False

    # --- weights (scheduler.go) ------------------------------------------------------------
    def _max_weight(self) -> int:
        return min(TOTAL_WEIGHT, self.spec.step_weights[-1])

    def _next_step_weight(self) -> int:
        steps, weight = self.spec.step_weights, self.canary_weight
        max_step = TOTAL_WEIGHT - weight
        if max_step == 0:
            return 1
        if weight == 0:
            return min(max_step, steps[0])
        for i in range(len(steps) - 1):
            if steps[i] == weight:
                return min(max_step, steps[i + 1] - weight)
        return max_step

    # --- one scheduler run -----------------------------------------------------------------
    async def _rollback(self) -> None:
        self.phase = FAILED
        self.canary_weight = 0
        await self._all_ok("post-rollout", FAILED)

    async def tick(self) -> None:
        """advanceCanary for a Canary whose target has a new revision."""
        if self.phase in (SUCCEEDED, FAILED):
            return
        # checkCanaryStatus: a new revision waits for confirm-rollout, then scales up.
        if self.phase in (INITIALIZED, WAITING):
            if not await self._all_ok("confirm-rollout", self.phase):
                self.phase = WAITING
                return
            self.phase = PROGRESSING
            return
        if self.phase in (PROGRESSING, WAITING_PROMOTION) and await self._any_ok(
            "rollback", self.phase
        ):
            await self._rollback()
            return
        if self.phase == PROMOTING:
            self.canary_weight = 0  # stepWeightPromotion unset: all traffic to the primary
            self.phase = FINALISING
            return
        if self.phase == FINALISING:
            self.phase = SUCCEEDED
            await self._all_ok("post-rollout", SUCCEEDED)
            return
        if self.failed_checks >= self.spec.threshold:
            await self._rollback()
            return
        if self.canary_weight == 0 and self.iterations == 0:
            checked = await self._all_ok("pre-rollout", PROGRESSING)
        else:
            checked = await self._all_ok("rollout", PROGRESSING)
        if not checked:
            self.failed_checks += 1
            return
        if self._next_step_weight() <= 0:
            return
        if self.phase != WAITING_PROMOTION and not await self._all_ok(
            "confirm-traffic-increase", PROGRESSING
        ):
            return
        if self.canary_weight < self._max_weight():
            self.canary_weight = min(TOTAL_WEIGHT, self.canary_weight + self._next_step_weight())
            return
        if not await self._all_ok("confirm-promotion", PROGRESSING):
            self.phase = WAITING_PROMOTION
            return
        self.phase = PROMOTING
