"""`python -m examples.demo` (what `make demo` runs): the whole loop on loopback, a few minutes."""

from __future__ import annotations

import argparse
import sys

from examples.demo.orchestrator import SOURCES, Demo, DemoSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__)
    parser.add_argument("--work-dir", default=".demo", help="logs, data and reports go here")
    parser.add_argument("--fast", action="store_true", help="shorter phases (used by the e2e test)")
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="store",
        help="where the engine's verdicts read their counts: the embedded store (pushed by the"
        " sidecars) or the demo's Prometheus (pull mode, nothing pushed)",
    )
    args = parser.parse_args(argv)
    settings = (
        DemoSettings.fast_profile(args.work_dir, args.source)
        if args.fast
        else DemoSettings(args.work_dir, source=args.source)
    )
    return Demo(settings).run()


if __name__ == "__main__":
    sys.exit(main())
