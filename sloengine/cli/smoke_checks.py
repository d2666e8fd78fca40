"""Post-deploy verification: the checks the sprint's runbook asks for after every deploy.

Each check is independent and yields a `CheckResult`; the CLI prints one line per check and
exits non-zero naming every failed one. Checks:
- health:    GET /health answers 2xx
- ready:     GET /ready answers 2xx
- metrics:   GET /metrics exposes our RED metric names (conventions.py)
- user-path: one sample user path answers 2xx
- trace:     a traceparent sent in comes back continued: same trace-id, a new parent-id
             (read from the W3C Level 2 `traceresponse` header, or `traceparent` echoed)
- audit:     the audit log verifies and has entries for the service (optional)
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from sloengine import conventions

_TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def _get(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.get(url, headers=headers)


def check_status(client: httpx.Client, name: str, url: str) -> CheckResult:
    try:
        resp = _get(client, url)
    except httpx.HTTPError as exc:
        return CheckResult(name, False, f"GET {url}: {type(exc).__name__}: {exc}")
    ok = 200 <= resp.status_code < 300
    return CheckResult(name, ok, f"GET {url} -> {resp.status_code}")


def check_metrics(client: httpx.Client, url: str) -> CheckResult:
    try:
        resp = _get(client, url)
    except httpx.HTTPError as exc:
        return CheckResult("metrics", False, f"GET {url}: {type(exc).__name__}: {exc}")
    if resp.status_code != 200:
        return CheckResult("metrics", False, f"GET {url} -> {resp.status_code}")
    wanted = (
        conventions.HTTP_REQUESTS_TOTAL,
        f"{conventions.HTTP_REQUEST_DURATION_SECONDS}_bucket",
    )
    missing = [name for name in wanted if not re.search(rf"^{name}\{{", resp.text, re.M)]
    if missing:
        return CheckResult("metrics", False, f"{url} lacks {', '.join(missing)}")
    return CheckResult("metrics", True, f"{url} exposes {', '.join(wanted)}")


def check_trace_continued(client: httpx.Client, url: str) -> CheckResult:
    trace_id = secrets.token_hex(16)
    parent_id = secrets.token_hex(8)
    sent = f"00-{trace_id}-{parent_id}-01"
    try:
        resp = _get(client, url, headers={"traceparent": sent})
    except httpx.HTTPError as exc:
        return CheckResult("trace", False, f"GET {url}: {type(exc).__name__}: {exc}")
    returned = resp.headers.get("traceresponse") or resp.headers.get("traceparent")
    if not returned:
        return CheckResult("trace", False, f"GET {url}: no traceresponse header in the answer")
    m = _TRACEPARENT_RE.match(returned.strip())
    if not m:
        return CheckResult("trace", False, f"GET {url}: malformed traceresponse {returned!r}")
    if m.group(1) != trace_id:
        return CheckResult("trace", False, f"trace restarted: sent {trace_id}, got {m.group(1)}")
    if m.group(2) == parent_id:
        return CheckResult("trace", False, "trace not continued: parent-id unchanged")
    return CheckResult("trace", True, f"trace {trace_id} continued by span {m.group(2)}")


def check_audit(path: Path, service: str | None) -> CheckResult:
    # Imported here: the audit package is optional for a smoke run without --audit-log.
    from sloengine.audit import verify

    try:
        result = verify(path)
    except OSError as exc:
        return CheckResult("audit", False, f"{path}: cannot read: {exc.strerror}")
    if not result.ok:
        return CheckResult(
            "audit", False, f"{path}: chain broken at line {result.line}: {result.reason}"
        )
    if service is None:
        return CheckResult("audit", True, f"{path}: chain verified")
    text = path.read_text()
    if f'"{service}"' not in text:
        return CheckResult("audit", False, f"{path}: no entries for service {service!r}")
    return CheckResult("audit", True, f"{path}: chain verified, has entries for {service}")


def run_smoke(
    base_url: str,
    *,
    user_path: str = "/search?q=smoke",
    audit_log: Path | None = None,
    service: str | None = None,
    timeout_s: float = 5.0,
    client_factory: Callable[[], httpx.Client] | None = None,
) -> list[CheckResult]:
    """Run every check against `base_url`; never raises for a failing service."""
    base = base_url.rstrip("/")
    factory = client_factory or (lambda: httpx.Client(timeout=timeout_s))
    with factory() as client:
        results = [
            check_status(client, "health", f"{base}/health"),
            check_status(client, "ready", f"{base}/ready"),
            check_metrics(client, f"{base}/metrics"),
            check_status(client, "user-path", f"{base}{user_path}"),
            check_trace_continued(client, f"{base}{user_path}"),
        ]
    if audit_log is not None:
        results.append(check_audit(audit_log, service))
    return results
