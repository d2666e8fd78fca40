"""The demo's rollback hook: takes the canary out of traffic.

In production this would be `kubectl argo rollouts abort`, `helm rollback` or a call to a
traffic router. In the demo the load generator splits traffic by a weight it re-reads from
a file, so rolling back means writing 0 there and clearing the canary's injected faults.

    python -m examples.demo.rollback_hook --weight-file W [--faults-url URL] --service S --revision R
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rollback_hook")
    parser.add_argument("--weight-file", required=True)
    parser.add_argument("--faults-url", help="the canary's fault admin endpoint, to clear faults")
    parser.add_argument("--service", default="")
    parser.add_argument("--revision", default="")
    args = parser.parse_args(argv)
    tmp = f"{args.weight_file}.tmp"
    with open(tmp, "w") as fh:
        fh.write("0\n")
    os.replace(tmp, args.weight_file)  # atomic: the load generator never reads half a file
    if args.faults_url:
        body = json.dumps({"error_ratio": 0.0, "added_latency_s": 0.0}).encode()
        req = urllib.request.Request(
            args.faults_url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(req, timeout=5).read()
        except OSError as exc:  # the canary may already be gone; the weight is what matters
            print(f"rollback_hook: could not clear faults: {exc}", file=sys.stderr)
    print(
        f"rollback_hook: canary of {args.service or 'service'} out of traffic (revision {args.revision or '-'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
