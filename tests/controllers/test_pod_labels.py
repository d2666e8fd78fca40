"""Variant and revision from the pod's labels (downward API file), re-read on change: a
promoted pod relabelled by Argo reports itself as stable without a restart."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from sidecar.app import Sidecar
from sidecar.config import ConfigError, parse_config
from sloengine.client.podlabels import PodLabels, parse_labels
from tests.controllers.engine import start_engine
from tests.support.wait import until


def write_labels(path: Path, labels: dict[str, str]) -> None:
    """Like the kubelet: a new file swapped in atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f'{k}="{v}"\n' for k, v in labels.items()))
    os.replace(tmp, path)


def test_downward_api_format_is_parsed_with_go_escapes() -> None:
    text = 'app="gateway"\nnote="say \\"hi\\"\\n"\nrollouts-pod-template-hash="6d8f7c9b5"\njunk\n'
    assert parse_labels(text) == {
        "app": "gateway", "note": 'say "hi"\n', "rollouts-pod-template-hash": "6d8f7c9b5",
    }  # fmt: skip


def test_relabel_changes_variant_and_revision_and_a_bad_file_keeps_the_last(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    write_labels(path, {"variant": "canary", "rollouts-pod-template-hash": "aaa"})
    pod = PodLabels(path, default_variant="stable", revision_label="rollouts-pod-template-hash",
                    allowed_variants=("stable", "canary"))  # fmt: skip
    assert (pod.current().variant, pod.current().revision) == ("canary", "aaa")
    write_labels(path, {"variant": "stable", "rollouts-pod-template-hash": "aaa", "x": "1"})
    assert pod.current().variant == "stable"
    write_labels(path, {"variant": "bogus"})
    assert pod.current().variant == "stable"  # not a known variant: ignored
    path.unlink()
    assert pod.current().variant == "stable"


def test_flagger_selector_label_maps_to_variants(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    write_labels(path, {"app": "gateway-primary"})
    env = {"SIDECAR_UPSTREAM": "http://127.0.0.1:1", "SIDECAR_SERVICE": "gateway",
           "SIDECAR_POD_LABELS_FILE": str(path), "SIDECAR_VARIANT_LABEL": "app",
           "SIDECAR_VARIANT_MAP": "gateway-primary=primary,gateway=canary"}  # fmt: skip
    config = parse_config([], env)
    pod = PodLabels(config.pod_labels_file, default_variant=config.variant,
                    variant_label=config.variant_label, variant_map=dict(config.variant_map))  # fmt: skip
    assert pod.current().variant == "primary"
    with pytest.raises(ConfigError, match="--variant-map"):
        parse_config([], {**env, "SIDECAR_VARIANT_MAP": "gateway=blue"})


@pytest.mark.integration
async def test_a_relabelled_pod_reports_its_new_variant_without_a_restart(tmp_path: Path) -> None:
    engine = await start_engine(tmp_path, scopes=("ingest",))
    engine.now[0] = time.time()  # the sidecar stamps samples with the real clock

    async def search(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    upstream = web.Application()
    upstream.router.add_get("/search", search)
    runner = web.AppRunner(upstream)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    labels = tmp_path / "labels"
    write_labels(labels, {"variant": "canary", "rollouts-pod-template-hash": "rev2"})
    config = parse_config(
        ["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
         "--upstream", f"http://127.0.0.1:{runner.addresses[0][1]}", "--service", "gateway",
         "--routes", "/search", "--engine", f"127.0.0.1:{engine.app.grpc_port}",
         "--engine-token", engine.tokens["ingest"], "--flush-interval", "0.1",
         "--pod-labels-file", str(labels), "--revision-label", "rollouts-pod-template-hash"],
        {},
    )  # fmt: skip
    sidecar = Sidecar(config, env={})
    await sidecar.start()
    store = engine.app.state.store

    def requests(variant: str, revision: str) -> float:
        selector = {"service": "gateway", "variant": variant, "revision": revision}
        return float(store.window_sum(selector, 600, time.time() + 5).requests)

    try:
        host, port = sidecar.addresses["ingress"]
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            for _ in range(5):
                assert (await client.get("/search")).status_code == 200
            write_labels(labels, {"variant": "stable", "rollouts-pod-template-hash": "rev2"})
            await until(lambda: sidecar.red.variant == "stable", "the sidecar relabelled")
            for _ in range(3):
                assert (await client.get("/search")).status_code == 200
        await until(lambda: requests("stable", "rev2") >= 3, "the stable requests stored")
        assert requests("canary", "rev2") == 5
        assert requests("stable", "rev2") == 3
    finally:
        await sidecar.stop()
        await runner.cleanup()
        await engine.channel.close()
        await engine.app.stop(1.0)


async def test_instrumented_app_follows_its_pod_labels(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    from instrumentation import instrument, uninstrument

    labels = tmp_path / "labels"
    write_labels(labels, {"variant": "canary", "rollouts-pod-template-hash": "rev3"})
    app = FastAPI()

    @app.get("/search")
    async def search() -> dict[str, str]:
        return {"ok": "yes"}

    registry = CollectorRegistry()
    instr = instrument(
        app, service="docs", registry=registry, pod_labels_file=labels,
        revision_label="rollouts-pod-template-hash", access_log=False,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            for _ in range(2):
                assert (await client.get("/search")).status_code == 200
            assert instr.identity().revision == "rev3"
            write_labels(labels, {"variant": "stable", "rollouts-pod-template-hash": "rev3"})
            await asyncio.sleep(1.1)  # identity is re-checked at most once a second
            assert (await client.get("/search")).status_code == 200
    finally:
        uninstrument(app)  # instrument() patches httpx and sqlite3 process-wide

    def count(variant: str) -> float | None:
        return registry.get_sample_value(
            "http_requests_total",
            {"service": "docs", "variant": variant, "route": "/search", "method": "GET",
             "status": "200"},
        )  # fmt: skip

    assert count("canary") == 2 and count("stable") == 1
