"""`sloengine` command line: one module per subcommand, each exposing `register(subparsers)`.

Errors the user can fix (SpecError, IngestError, ...) print one line to stderr and exit 2;
nothing below reaches the user as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sloengine.errors import SloEngineError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

# Subcommand modules, in help order. Each defines register(subparsers) which adds a parser
# whose `func(args) -> int` default runs the command.
SUBCOMMANDS = ("validate", "generate", "serve", "audit", "override", "smoke", "traces", "replay")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sloengine",
        description="SLO engine: specs to rules and dashboards, burn rates, canary verdicts.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        # Subcommand modules keep heavy imports (grpc, aiohttp) inside their command.
        importlib.import_module(f"sloengine.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SloEngineError as exc:
        print(f"sloengine: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
