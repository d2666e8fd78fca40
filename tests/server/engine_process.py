"""`sloengine serve` as a real subprocess on port 0, for restart and signal tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_SERVING = re.compile(r"sloengine: serving grpc=(\S+) http=(\S+)")


class EngineProcess:
    """Start `sloengine serve`, wait for its address line; stop with SIGTERM or SIGKILL."""

    def __init__(
        self, data_dir: Path, specs: Path, *extra: str, grpc_listen: str = "127.0.0.1:0"
    ) -> None:
        self.argv = [
            sys.executable, "-m", "sloengine", "serve",
            "--grpc-listen", grpc_listen, "--http-listen", "127.0.0.1:0",
            "--data-dir", str(data_dir), "--specs", str(specs), *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[str] | None = None
        self.grpc_address = ""
        self.http_address = ""
        self.stderr_path = data_dir.parent / f"{data_dir.name}.stderr"

    def start(self, timeout_s: float = 60.0) -> EngineProcess:
        self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=self.stderr_path.open("a"),
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if match := _SERVING.search(line):
                self.grpc_address, self.http_address = match.groups()
                return self
            if not line and self.proc.poll() is not None:
                break
        self.kill()
        raise RuntimeError(f"engine did not start:\n{self.stderr_path.read_text()[-3000:]}")

    def terminate(self, timeout_s: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
