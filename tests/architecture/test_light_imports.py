"""Each installable part imports only what its extra installs (pyproject.toml's extras).

The fast twin of tests/packaging (no venv is built): a fresh interpreter imports one facade
and must not have loaded a library that only another extra brings. A heavy import that
creeps into the core, the client or the instrumentation fails here, in `make test-fast`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Libraries of the extras that the core does not install (import names).
SERVER_ONLY = ("scipy", "aiohttp", "httpx", "cramjam", "uvloop")
REPLAY_ONLY = ("pandas", "pyarrow", "plotly")
LOADTEST_ONLY = ("locust", "gevent")
SERVICE_ONLY = ("fastapi", "starlette", "uvicorn", "opentelemetry", "httptools")
CORE_FORBIDDEN = (*SERVER_ONLY, *REPLAY_ONLY, *LOADTEST_ONLY, *SERVICE_ONLY)
INSTRUMENTATION_FORBIDDEN = ("scipy", "aiohttp", "cramjam", "uvloop", *REPLAY_ONLY, *LOADTEST_ONLY)
SIDECAR_FORBIDDEN = ("scipy", "fastapi", "starlette", "uvicorn", "cramjam", *REPLAY_ONLY,
                     *LOADTEST_ONLY)  # fmt: skip

CASES = {
    # the core: model, specs, generators, the client, and the CLI's parser
    "import sloengine.model, sloengine.specs, sloengine.generate": CORE_FORBIDDEN,
    "import sloengine.client": CORE_FORBIDDEN,
    "import sloengine.cli; sloengine.cli.build_parser()": CORE_FORBIDDEN,
    # the instrumentation extra: FastAPI, OTel, httpx, on top of the core
    "import instrumentation": INSTRUMENTATION_FORBIDDEN,
    # the sidecar extra: aiohttp, httptools, uvloop, OTel, on top of the core
    "import sidecar.app": SIDECAR_FORBIDDEN,
}


@pytest.mark.parametrize("statement", sorted(CASES))
def test_importing_a_part_loads_only_its_extra(statement: str) -> None:
    forbidden = CASES[statement]
    probe = (
        f"import sys, json\n{statement}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({forbidden!r}))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"`{statement}` loads {loaded}, which its extra does not install"
