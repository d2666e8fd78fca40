"""A real VictoriaMetrics single-node (Debian package) on loopback with a temp data dir."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.net import free_port, start_on_free_port, stop_process

VICTORIA_METRICS_BIN = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


class VictoriaMetricsServer:
    """Accepts remote_write at /api/v1/write and answers the Prometheus query API."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> VictoriaMetricsServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.workdir / "vm.log"

        def launch(port: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [
                    VICTORIA_METRICS_BIN,
                    f"-storageDataPath={self.workdir / 'data'}",
                    f"-httpListenAddr=127.0.0.1:{port}",
                    "-retentionPeriod=1y",
                    "-search.latencyOffset=0s",  # answer with the newest samples too
                    "-search.disableCache",
                ],
                stdout=log_path.open("wb"),
                stderr=subprocess.STDOUT,
            )

        try:
            self.proc, self.port = start_on_free_port(launch, self.port, "/health", log_path)
        except RuntimeError as exc:
            raise RuntimeError(f"victoria-metrics did not start: {exc}") from None
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)

    def flush(self) -> None:
        """Make every ingested sample searchable now (VM buffers them for about a second)."""
        import urllib.request

        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10).close()
