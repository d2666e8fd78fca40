"""`sloengine smoke BASE_URL`: post-deploy verification, non-zero exit naming each failure."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("smoke", help="post-deploy checks of a running service")
    p.add_argument("base_url", help="e.g. http://127.0.0.1:8000")
    p.add_argument("--path", default="/search?q=smoke", help="a sample user path")
    p.add_argument("--audit-log", type=Path, help="verify this audit log too")
    p.add_argument("--service", help="the audit log must have entries for this service")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sloengine.cli.smoke_checks import (
        run_smoke,  # needs httpx (the `server` extra), not the core
    )

    results = run_smoke(
        args.base_url,
        user_path=args.path,
        audit_log=args.audit_log,
        service=args.service,
        timeout_s=args.timeout,
    )
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.name:<10} {r.detail}")
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"smoke: {len(failed)} check(s) failed: {', '.join(failed)}")
        return 1
    print(f"smoke: all {len(results)} checks passed")
    return 0
