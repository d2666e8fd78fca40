"""`python -m loadtests ...`: locust itself, with the --loadtest-* options listed in --help.

Locust prints `--help` before it imports the locustfile, so options that a locustfile adds
(events.init_command_line_parser) never show there (locustio/locust#2917). This entry point
imports them first, and defaults `-f` to loadtests/locustfile.py; every other argument is
locust's own:

    python -m loadtests --help
    python -m loadtests --headless -H http://127.0.0.1:8000 -u 20 -r 10 -t 60s --processes 2
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import loadtests.plugin  # noqa: F401  (registers the options before locust builds its parser)

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    names_a_locustfile = any(
        a in ("-f", "--locustfile") or a.startswith("--locustfile=") for a in args
    ) or bool(os.environ.get("LOCUST_LOCUSTFILE"))
    if not names_a_locustfile:
        args = ["-f", str(LOCUSTFILE), *args]
    sys.argv = ["locust", *args]
    from locust.main import main as locust_main

    locust_main()


if __name__ == "__main__":
    main()
