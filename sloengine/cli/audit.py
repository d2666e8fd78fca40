"""`sloengine audit verify PATH` and `sloengine audit show PATH`.

verify: exit 0 when the chain (and head file) is intact, 1 with the first bad line and why
(including a chain break the engine recorded at open, and a log that lacks the head given
by --expect-head SEQ:HASH).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from sloengine.audit import read_entries, verify
from sloengine.errors import SpecError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="verify or show a hash-chained audit log")
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p_verify = sub.add_parser("verify", help="check every line's hash chain; exit 1 when broken")
    p_verify.add_argument("path", type=Path)
    p_verify.add_argument(
        "--expect-head",
        metavar="SEQ:HASH",
        help="a head published elsewhere (the engine's `audit head` log line or metrics): "
        "the log must hold entry SEQ with this hash (or hash prefix)",
    )
    p_verify.set_defaults(func=_verify)
    p_show = sub.add_parser("show", help="print the log as a table")
    p_show.add_argument("path", type=Path)
    p_show.add_argument("--details", action="store_true", help="add each entry's details (JSON)")
    p_show.set_defaults(func=_show)


def _expected_head(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    seq, sep, digest = text.partition(":")
    if not sep or not seq.strip().isdigit() or len(digest) < 8 or not _is_hex(digest):
        raise SpecError("", "--expect-head", f"must be SEQ:HASH (hex, >= 8 digits), got {text!r}")
    return int(seq), digest.lower()


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _verify(args: argparse.Namespace) -> int:
    expect = _expected_head(getattr(args, "expect_head", None))
    try:
        result = verify(args.path, expect_head=expect)
    except OSError as exc:
        print(f"sloengine audit: {args.path}: {exc.strerror}", file=sys.stderr)
        return 2
    if result.ok:
        head = "head file matches" if result.head_checked else "no head file"
        print(
            f"{args.path}: ok, {result.entries} entries, last hash {result.last_hash[:16]} ({head})"
        )
        return 0
    where = f"line {result.line}" if result.line else "head"
    print(f"{args.path}: {where}: {result.reason}", file=sys.stderr)
    return 1


def _cell(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _show(args: argparse.Namespace) -> int:
    try:
        rows = list(read_entries(args.path))
    except OSError as exc:
        print(f"sloengine audit: {args.path}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"sloengine audit: {args.path}: not JSON lines; run `audit verify`", file=sys.stderr)
        return 2
    print(f"{'SEQ':>5}  {'TIME (UTC)':<20}  {'ACTOR':<14}  {'ACTION':<20}  REASON")
    for _line_no, e in rows:
        when = dt.datetime.fromtimestamp(float(e.get("time", 0)), tz=dt.UTC)
        print(
            f"{e.get('seq', '?'):>5}  {when:%Y-%m-%d %H:%M:%S}  {_cell(str(e.get('actor')), 14):<14}"
            f"  {_cell(str(e.get('action')), 20):<20}  {_cell(str(e.get('reason')), 100)}"
        )
        if args.details:
            print(f"{'':>7}{json.dumps(e.get('details', {}), sort_keys=True)}")
    return 0
