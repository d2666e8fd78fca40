"""`sloengine override ACTION`: an operator's manual override, through the engine's admin API.

    sloengine override pause-rollback  --service gateway --reason "investigating INC-42"
    sloengine override resume-rollback --service gateway --reason "fixed"
    sloengine override force-verdict   --service gateway --revision 6d8f --verdict PASS --reason "..."
    sloengine override clear-verdict   --service gateway --revision 6d8f --reason "..."
    sloengine override rollback        --service gateway --revision 6d8f --reason "..."
    sloengine override list            [--service gateway]

`--engine` is the engine's HTTP address (env SLOENGINE_URL, default http://127.0.0.1:8080);
the admin token comes from `--token-file` (env SLOENGINE_TOKEN_FILE), never from the command
line, so it does not land in shell history or `ps`. `--actor` (default $USER@host) is who the
audit log records. Prints the engine's JSON answer; exit 2 with its error otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from sloengine.errors import OverrideError
from sloengine.settings.credentials import load_token

ACTIONS = ("pause-rollback", "resume-rollback", "force-verdict", "clear-verdict", "rollback")
DEFAULT_ENGINE = "http://127.0.0.1:8080"


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "override",
        help="pause automatic rollback, force a verdict, or roll back by hand (audited)",
        description="Manual overrides through the engine's admin API; each needs a reason.",
    )
    p.add_argument("action", choices=(*ACTIONS, "list"))
    p.add_argument("--engine", default=os.environ.get("SLOENGINE_URL", DEFAULT_ENGINE))
    p.add_argument(
        "--token-file",
        type=Path,
        default=os.environ.get("SLOENGINE_TOKEN_FILE") or None,
        help="admin token file (env SLOENGINE_TOKEN_FILE)",
    )
    p.add_argument("--service")
    p.add_argument("--revision", default="", help="'' = every revision (force/clear-verdict)")
    p.add_argument("--verdict", choices=("PASS", "FAIL", "INCONCLUSIVE"))
    p.add_argument("--reason", help="why (required for every change; audited)")
    p.add_argument("--actor", default=None, help="who (default $USER@host)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (a rollback waits)")
    p.set_defaults(func=run)


def _default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if args.token_file is not None:
        token = load_token(Path(args.token_file), "--token-file").decode()
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        args.engine.rstrip("/") + path, data=data, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace").strip()
        with contextlib.suppress(ValueError, AttributeError):  # not our JSON error body
            text = json.loads(text).get("error", text)
        raise OverrideError(f"engine answered {exc.code}: {text}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OverrideError(f"cannot reach the engine at {args.engine}: {reason}") from None


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        query = f"?service={urllib.parse.quote(args.service)}" if args.service else ""
        print(json.dumps(_call(args, "GET", f"/api/v1/overrides{query}"), indent=2))
        return 0
    missing = [f"--{name}" for name in ("service", "reason") if not getattr(args, name)]
    if args.action == "force-verdict" and not args.verdict:
        missing.append("--verdict")
    if missing:
        print(f"sloengine override {args.action}: {', '.join(missing)} required", file=sys.stderr)
        return 2
    body = {
        "service": args.service,
        "revision": args.revision,
        "reason": args.reason,
        "actor": args.actor or _default_actor(),
    }
    if args.verdict:
        body["verdict"] = args.verdict
    print(json.dumps(_call(args, "POST", f"/api/v1/overrides/{args.action}", body), indent=2))
    return 0
