"""`sloengine validate PATH...`: load specs and report every problem, one line each.

Exit 0 with a one-line summary when the catalog is valid; exit 2 with `file: field.path:
reason` lines on stderr otherwise. Never a traceback: a loader bug is reported as one line
with exit code 1.
"""

from __future__ import annotations

import argparse
import sys

from sloengine.errors import SpecErrors
from sloengine.model import Catalog
from sloengine.specs import load_catalog


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check SLO specs (OpenSLO v1, Sloth prometheus/v1, native) and policies",
        description="Load SLO spec files or directories and report every error found.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="spec file or directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.paths)
    except SpecErrors as errs:
        for err in errs.errors:
            print(err.line(), file=sys.stderr)
        print(f"sloengine validate: {_count(len(errs.errors), 'error')}", file=sys.stderr)
        return 2
    except Exception as exc:  # a loader bug must still not show users a traceback
        print(f"sloengine validate: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(summary(catalog))
    return 0


def summary(catalog: Catalog) -> str:
    """`5 SLOs across 3 services; policies: fast-slow` (custom policies, if any)."""
    services = {slo.service for slo in catalog.slos}
    text = f"{_count(len(catalog.slos), 'SLO')} across {_count(len(services), 'service')}"
    if catalog.policies:
        text += f"; policies: {', '.join(p.name for p in catalog.policies)}"
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
