"""`python -m examples.demo` (what `make demo` runs): the whole loop on loopback, a few minutes."""

from __future__ import annotations

import argparse
import sys

from examples.demo.orchestrator import Demo, DemoSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__)
    parser.add_argument("--work-dir", default=".demo", help="logs, data and reports go here")
    parser.add_argument("--fast", action="store_true", help="shorter phases (used by the e2e test)")
    args = parser.parse_args(argv)
    settings = (
        DemoSettings.fast_profile(args.work_dir) if args.fast else DemoSettings(args.work_dir)
    )
    return Demo(settings).run()


if __name__ == "__main__":
    sys.exit(main())
