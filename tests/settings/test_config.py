"""EngineConfig from YAML: the engine section, paths, other sections kept raw, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloengine.errors import SpecError
from sloengine.settings.config import TLSConfig, load_config, parse_listen


def test_engine_section_is_parsed_and_other_sections_kept_raw(tmp_path: Path) -> None:
    path = tmp_path / "engine.yaml"
    path.write_text(
        "engine:\n"
        "  grpc_listen: 0.0.0.0:50051\n"
        "  data_dir: data\n"
        "  specs: [slos, /abs/more.yaml]\n"
        "  max_series: 5000\n"
        "  snapshot_interval: 2m\n"
        "  max_future_skew: 30s\n"
        "  tls: {cert: tls/c.pem, key: tls/k.pem}\n"
        "canary: {short_window: 5m}\n"
    )
    config = load_config(path)
    assert config.grpc_listen == "0.0.0.0:50051"
    assert config.data_dir == tmp_path / "data"
    assert config.specs == (tmp_path / "slos", Path("/abs/more.yaml"))
    assert (config.max_series, config.snapshot_interval_seconds) == (5000, 120)
    assert config.max_future_skew_seconds == 30
    assert config.tls == TLSConfig(tmp_path / "tls/c.pem", tmp_path / "tls/k.pem")
    assert config.raw["canary"] == {"short_window": "5m"}
    assert config.path == path


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "engine.yaml"
    path.write_text("engine: {max_series: 10, policy: fast-slow}\n")
    config = load_config(path).with_overrides(max_series=20, policy=None)
    assert (config.max_series, config.policy) == (20, "fast-slow")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("engine: {max_series: -1}", "engine.max_series: must be a positive integer"),
        ("engine: {grpc_listen: nowhere}", "engine.grpc_listen: expected HOST:PORT"),
        ("engine: {snapshot_interval: soon}", "engine.snapshot_interval: invalid duration"),
        ("engine: {tls: {cert: c.pem}}", "engine.tls: needs both cert and key"),
        ("engine: {colour: blue}", "engine.colour: unknown key"),
        ("engine: [1]", "engine: expected a mapping"),
        ("engine: {specs: 3}", "engine.specs: must be a list of paths"),
        ("engine: {", "invalid YAML"),
    ],
)
def test_bad_config_names_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "engine.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_config(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_token_file_is_read_and_an_empty_one_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("  abc \n")
    path = tmp_path / "engine.yaml"
    path.write_text("engine: {token_file: token}\n")
    assert load_config(path).read_token() == "abc"
    token.write_text("\n")
    with pytest.raises(SpecError, match="empty"):
        load_config(path).read_token()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:50051", ("::1", 50051)),
        (":8080", ("0.0.0.0", 8080)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected
