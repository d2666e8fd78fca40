"""`python -m examples.demo --source prometheus`: the engine's verdicts come from Prometheus.

The full run is the e2e demo (about three minutes, reported once by hand); here the wiring:
the engine config the demo writes, loaded by the engine's own loader, selects the pull-mode
window source on the demo's Prometheus, and the sidecars are started without a push.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from examples.demo.__main__ import main
from examples.demo.orchestrator import Demo, DemoSettings
from sloengine.pipelines import verdict_window_source
from sloengine.pipelines._pull_windows import PromWindowSource
from sloengine.settings.config import load_config

PROM = "http://127.0.0.1:19090"


def _engine_config(tmp_path: Path, source: str) -> Path:
    demo = Demo(DemoSettings.fast_profile(str(tmp_path / "demo"), source))
    demo.work.mkdir(parents=True)
    demo._prepare_files()  # the token, weight and audit paths the config names
    path = tmp_path / "engine.yaml"
    config = demo._engine_config("http://127.0.0.1:1/admin/faults", PROM)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_prometheus_source_configures_pull_mode_verdicts(tmp_path: Path) -> None:
    config = load_config(_engine_config(tmp_path, "prometheus"))
    assert config.prometheus_url == PROM
    source = verdict_window_source(config)
    assert isinstance(source, PromWindowSource)
    assert source.base_url == PROM


def test_store_source_keeps_the_embedded_store(tmp_path: Path) -> None:
    config = load_config(_engine_config(tmp_path, "store"))
    assert verdict_window_source(config) is None
    assert config.prometheus_url is None


def test_sidecars_push_only_when_verdicts_read_the_store(tmp_path: Path) -> None:
    pulled = Demo(DemoSettings(str(tmp_path / "a"), source="prometheus"))
    assert pulled._push_args() == []
    pushed = Demo(DemoSettings(str(tmp_path / "b")))
    pushed.addr["engine_grpc"] = "127.0.0.1:1"
    pushed.token = "t"
    assert pushed._push_args()[:2] == ["--engine", "127.0.0.1:1"]


def test_unknown_source_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--source", "influx"])
    assert exc.value.code == 2
    assert "--source" in capsys.readouterr().err
    with pytest.raises(ValueError, match="source"):
        DemoSettings(source="influx")
