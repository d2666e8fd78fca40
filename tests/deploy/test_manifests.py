"""Every manifest under deploy/kubernetes validates: core objects against the Kubernetes
schemas (kubernetes-validate, offline, strict: unknown fields fail), custom resources
against the fields their controllers document (crd_schemas.py), pod templates inside
custom resources against the Kubernetes PodTemplateSpec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.crd_schemas import CRD_SCHEMAS, FLAGGER_HOOK_TYPES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                out.append((f"{path.relative_to(DEPLOY)}#{i}", doc))
    return out


DOCUMENTS = documents()


def validate_core(doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        raise AssertionError(f"{doc['kind']} {where}: {exc.message}") from None


def test_there_are_manifests_of_every_kind_the_issue_names() -> None:
    kinds = {doc["kind"] for _, doc in DOCUMENTS}
    assert {
        "StatefulSet", "Service", "NetworkPolicy", "ConfigMap", "Deployment", "Rollout",
        "AnalysisTemplate", "Canary", "PrometheusRule", "AlertmanagerConfig",
    } <= kinds  # fmt: skip


@pytest.mark.parametrize(("where", "doc"), DOCUMENTS, ids=[w for w, _ in DOCUMENTS])
def test_manifest_validates(where: str, doc: dict[str, Any]) -> None:
    key = (doc.get("apiVersion"), doc.get("kind"))
    schema = CRD_SCHEMAS.get(key)  # type: ignore[arg-type]
    if schema is None:
        validate_core(doc)
        return
    jsonschema.validate(doc, schema)
    if doc["kind"] == "Rollout":
        template = doc["spec"]["template"]
        validate_core({"apiVersion": "v1", "kind": "PodTemplate",
                       "metadata": {"name": "rollout"}, "template": template})  # fmt: skip


def test_a_misspelt_field_is_caught() -> None:
    (doc,) = [d for _, d in DOCUMENTS if d["kind"] == "Canary"]
    bad = {**doc, "spec": {**doc["spec"], "analysis": {**doc["spec"]["analysis"], "treshold": 2}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, CRD_SCHEMAS[("flagger.app/v1beta1", "Canary")])
    (sts,) = [d for _, d in DOCUMENTS if d["kind"] == "StatefulSet"]
    bad_sts = {**sts, "spec": {**sts["spec"], "replica": 1}}
    with pytest.raises(AssertionError):
        validate_core(bad_sts)


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for where, doc in DOCUMENTS:
        if doc["kind"] in ("StatefulSet", "Deployment", "Rollout"):
            out.append((where, doc["spec"]["template"]["spec"]))
    return out


@pytest.mark.parametrize(("where", "pod"), pod_specs(), ids=[w for w, _ in pod_specs()])
def test_pods_run_as_non_root_with_read_only_roots_probes_and_resources(
    where: str, pod: dict[str, Any]
) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        assert "readinessProbe" in container


def test_engine_statefulset_keeps_its_data_dir_on_a_claim_and_probes_health() -> None:
    (sts,) = [d for _, d in DOCUMENTS if d["kind"] == "StatefulSet"]
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    (engine,) = sts["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in engine["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/sloengine"
    assert engine["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert engine["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_workloads_run_the_sidecar_as_second_container_with_pod_labels_file() -> None:
    for where, doc in DOCUMENTS:
        if doc["kind"] not in ("Deployment", "Rollout"):
            continue
        containers = doc["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 2 and containers[1]["command"] == ["sloengine-sidecar"], where
        env = {e["name"]: e for e in containers[1]["env"]}
        assert env["SIDECAR_POD_LABELS_FILE"]["value"] == "/etc/podinfo/labels"
        volumes = doc["spec"]["template"]["spec"]["volumes"]
        assert any(
            item["fieldRef"]["fieldPath"] == "metadata.labels"
            for v in volumes if "downwardAPI" in v for item in v["downwardAPI"]["items"]
        )  # fmt: skip


def test_flagger_canary_uses_every_gate_type_and_no_header() -> None:
    (doc,) = [d for _, d in DOCUMENTS if d["kind"] == "Canary"]
    hooks = doc["spec"]["analysis"]["webhooks"]
    types = {h["type"] for h in hooks}
    assert types == set(FLAGGER_HOOK_TYPES) - {"", "event"}
    for hook in hooks:
        assert hook["url"].endswith(f"/api/v1/flagger/{hook['type']}")
        assert set(hook["metadata"]) == {"service", "canary", "baseline", "token"}
