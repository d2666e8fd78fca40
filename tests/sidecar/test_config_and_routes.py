"""Flags, environment and route templates (pure)."""

from __future__ import annotations

import pytest

import sidecar
from sidecar.config import ConfigError, parse_config
from sidecar.routes import RouteMatcher, parse_route_templates
from sloengine.conventions import UNMATCHED_ROUTE

BASE = ["--upstream", "http://127.0.0.1:8000", "--service", "gw"]


def test_public_facade_is_small_and_lazy() -> None:
    assert sidecar.__all__ == ["ConfigError", "Sidecar", "SidecarConfig", "parse_config"]
    assert sidecar.parse_config is parse_config
    with pytest.raises(AttributeError):
        _ = sidecar.nope  # type: ignore[attr-defined]


def test_defaults() -> None:
    cfg = parse_config(BASE, {})
    assert cfg.upstream == ("127.0.0.1", 8000)
    assert cfg.listen == ("0.0.0.0", 8080)
    assert cfg.egress_listen is None
    assert cfg.variant == "stable"
    assert cfg.producer_id == "sidecar-gw-stable"
    assert cfg.routes == ()


def test_environment_fills_in_and_flags_win() -> None:
    env = {"SIDECAR_VARIANT": "canary", "SIDECAR_LISTEN": "127.0.0.1:0", "SIDECAR_ROUTES": "/a"}
    cfg = parse_config([*BASE, "--listen", "127.0.0.1:9"], env)
    assert cfg.variant == "canary"
    assert cfg.listen == ("127.0.0.1", 9)
    assert cfg.routes == ("/a",)


def test_upstream_and_service_may_come_from_the_environment() -> None:
    env = {"SIDECAR_UPSTREAM": "http://svc:81", "SIDECAR_SERVICE": "docs"}
    cfg = parse_config([], env)
    assert cfg.upstream == ("svc", 81) and cfg.service == "docs"


def test_revision_comes_from_the_flag_or_the_environment() -> None:
    assert parse_config(BASE, {}).revision == ""
    assert parse_config(BASE, {"SIDECAR_REVISION": "7d9c5b8f4"}).revision == "7d9c5b8f4"
    assert parse_config([*BASE, "--revision", "v1.4.2"], {}).revision == "v1.4.2"


def test_ipv6_listen_address() -> None:
    assert parse_config([*BASE, "--listen", "[::1]:0"], {}).listen == ("::1", 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--upstream is required"),
        (["--upstream", "http://x:1"], "--service is required"),
        ([*BASE, "--upstream", "https://x"], "only http://"),
        ([*BASE, "--upstream", "http://x/api"], "no path"),
        ([*BASE, "--upstream", "http://x:99999"], "--upstream"),
        ([*BASE, "--listen", "8080"], "--listen: expected HOST:PORT"),
        ([*BASE, "--variant", "blue"], "--variant: must be one of"),
        ([*BASE, "--routes", "/docs/x{id}"], "--routes"),
        ([*BASE, "--idle-timeout", "0"], "--idle-timeout: must be > 0"),
        ([*BASE, "--max-header-bytes", "10"], "--max-header-bytes"),
        ([*BASE, "--flush-interval", "soon"], "--flush-interval"),
        ([*BASE, "--no-such-flag"], "unrecognized arguments"),
        ([*BASE, "--revision=--evil-flag"], "--revision: must be"),
        ([*BASE, "--revision", "a b"], "--revision: must be"),
        ([*BASE, "--revision", "r" * 129], "--revision: must be"),
    ],
)
def test_bad_input_names_the_flag(args: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")) as err:
        parse_config(args, {})
    assert "\n" not in str(err.value)


def test_static_segments_win_over_parameters() -> None:
    m = RouteMatcher(["/docs/{id}", "/docs/latest", "/docs/{id}/raw"])
    assert m.match("/docs/latest") == "/docs/latest"
    assert m.match("/docs/42") == "/docs/{id}"
    assert m.match("/docs/42/raw") == "/docs/{id}/raw"
    assert m.match(b"/docs/42?x=1") == "/docs/{id}"


def test_unknown_paths_share_one_route_value() -> None:
    m = RouteMatcher(["/docs/{id}"])
    for path in ("/", "/docs", "/docs/", "/docs/1/2", "/admin", "/docs/%2e%2e"):
        assert m.match(path) in (UNMATCHED_ROUTE, "/docs/{id}")
    assert m.match("/docs/1/2") == UNMATCHED_ROUTE
    assert m.match("/docs/") == UNMATCHED_ROUTE


def test_route_cache_stays_bounded() -> None:
    m = RouteMatcher(["/a/{x}"])
    for i in range(10_000):
        assert m.match(f"/a/{i}") == "/a/{x}"
    assert len(m._cache) <= 4096


@pytest.mark.parametrize("text", ["docs", "/docs/{}", "/docs/{id", "/docs/a{id}b"])
def test_bad_route_templates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_route_templates(text)


def test_route_list_parsing_ignores_blanks() -> None:
    assert parse_route_templates(" /a , ,/b/{id} ") == ("/a", "/b/{id}")
