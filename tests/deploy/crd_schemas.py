"""JSON schemas of the custom resources' fields, as their controllers document them.

Only the fields the controllers define (Argo Rollouts' pkg/apis/rollouts/v1alpha1 types,
Flagger's pkg/apis/flagger/v1beta1 types, the Prometheus Operator's monitoring.coreos.com
API); every object is closed (`additionalProperties: false`), so a misspelt or invented
field fails. Pod templates inside them are checked against the Kubernetes schema itself.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
INT_OR_STR: Schema = {"type": ["integer", "string"]}
STR_MAP: Schema = {"type": "object", "additionalProperties": STR}
DURATION: Schema = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"}


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def arr(items: Schema, min_items: int = 0) -> Schema:
    return {"type": "array", "items": items, "minItems": min_items}


METADATA = obj(("name",), name=STR, namespace=STR, labels=STR_MAP, annotations=STR_MAP)
POD_TEMPLATE: Schema = {"type": "object"}  # checked separately against the Kubernetes schema


def resource(api_version: str, kind: str, spec: Schema) -> Schema:
    return obj(
        ("apiVersion", "kind", "metadata", "spec"),
        apiVersion={"const": api_version},
        kind={"const": kind},
        metadata=METADATA,
        spec=spec,
    )


# --- Argo Rollouts (argoproj.io/v1alpha1) ----------------------------------------------------
_ARGO_ARG = obj(
    ("name",),
    name=STR,
    value=STR,
    valueFrom=obj(
        secretKeyRef=obj(("name", "key"), name=STR, key=STR),
        fieldRef=obj(("fieldPath",), fieldPath=STR),
        podTemplateHashValue={"enum": ["Stable", "Latest"]},
    ),
)
_TEMPLATE_REFS = arr(obj(templateName=STR, clusterScope=BOOL), 1)
_WEB = obj(
    ("url",),
    method={"enum": ["GET", "POST", "PUT"]},
    url=STR,
    headers=arr(obj(("key", "value"), key=STR, value=STR)),
    body=STR,
    jsonBody={"type": "object"},
    timeoutSeconds=INT,
    jsonPath=STR,
    insecure=BOOL,
)
_METRIC = obj(
    ("name", "provider"),
    name=STR,
    interval=DURATION,
    initialDelay=DURATION,
    count=INT_OR_STR,
    failureLimit=INT_OR_STR,
    inconclusiveLimit=INT_OR_STR,
    consecutiveErrorLimit=INT_OR_STR,
    consecutiveSuccessLimit=INT_OR_STR,
    successCondition=STR,
    failureCondition=STR,
    provider=obj(web=_WEB),
)
ANALYSIS_TEMPLATE = resource(
    "argoproj.io/v1alpha1",
    "AnalysisTemplate",
    obj(("metrics",), args=arr(_ARGO_ARG), metrics=arr(_METRIC, 1)),
)
_POD_METADATA = obj(labels=STR_MAP, annotations=STR_MAP)
_STEP = {
    "oneOf": [
        obj(("setWeight",), setWeight={"type": "integer", "minimum": 0, "maximum": 100}),
        obj(("pause",), pause=obj(duration=INT_OR_STR)),
        obj(("analysis",), analysis=obj(("templates",), templates=_TEMPLATE_REFS,
                                          args=arr(_ARGO_ARG))),
    ]
}  # fmt: skip
ROLLOUT = resource(
    "argoproj.io/v1alpha1",
    "Rollout",
    obj(
        ("selector", "template", "strategy"),
        replicas=INT,
        revisionHistoryLimit=INT,
        selector=obj(("matchLabels",), matchLabels=STR_MAP),
        template=POD_TEMPLATE,
        strategy=obj(
            ("canary",),
            canary=obj(
                ("steps",),
                canaryMetadata=_POD_METADATA,
                stableMetadata=_POD_METADATA,
                analysis=obj(
                    ("templates",), templates=_TEMPLATE_REFS, startingStep=INT,
                    args=arr(_ARGO_ARG),
                ),
                steps=arr(_STEP, 1),
            ),
        ),
    ),
)  # fmt: skip

# --- Flagger (flagger.app/v1beta1) -----------------------------------------------------------
FLAGGER_HOOK_TYPES = [
    "", "confirm-rollout", "pre-rollout", "rollout", "confirm-promotion", "post-rollout",
    "event", "rollback", "confirm-traffic-increase",
]  # fmt: skip
_REF = obj(("name",), apiVersion=STR, kind=STR, name=STR)
_WEBHOOK = obj(
    ("name", "url"),
    type={"enum": FLAGGER_HOOK_TYPES},
    name=STR,
    url=STR,
    muteAlert=BOOL,
    timeout=DURATION,
    metadata=STR_MAP,
    retries=INT,
    disableTLS=BOOL,
)
CANARY = resource(
    "flagger.app/v1beta1",
    "Canary",
    obj(
        ("targetRef", "service", "analysis"),
        provider=STR,
        targetRef=_REF,
        ingressRef=_REF,
        autoscalerRef=_REF,
        progressDeadlineSeconds=INT,
        skipAnalysis=BOOL,
        service=obj(("port",), port=INT, targetPort=INT_OR_STR, portName=STR, name=STR),
        analysis=obj(
            ("interval",),
            interval=DURATION,
            threshold=INT,
            maxWeight=INT,
            stepWeight=INT,
            stepWeights=arr({"type": "integer", "minimum": 1, "maximum": 100}, 1),
            stepWeightPromotion=INT,
            iterations=INT,
            webhooks=arr(_WEBHOOK),
        ),
    ),
)

# --- Prometheus Operator (monitoring.coreos.com) ---------------------------------------------
_RULE = {
    "oneOf": [
        obj(("record", "expr"), record=STR, expr=STR, labels=STR_MAP),
        obj(("alert", "expr"), alert=STR, expr=STR, labels=STR_MAP, annotations=STR_MAP,
            keep_firing_for=DURATION, **{"for": DURATION}),
    ]
}  # fmt: skip
PROMETHEUS_RULE = resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    obj(
        ("groups",),
        groups=arr(
            obj(("name", "rules"), name=STR, interval=DURATION, limit=INT, rules=arr(_RULE)), 1
        ),
    ),
)
_SECRET_KEY = obj(("name", "key"), name=STR, key=STR)
_MATCHER = obj(("name",), name=STR, value=STR, matchType={"enum": ["=", "!=", "=~", "!~"]})
ALERTMANAGER_CONFIG = resource(
    "monitoring.coreos.com/v1alpha1",
    "AlertmanagerConfig",
    obj(
        ("route", "receivers"),
        route=obj(
            ("receiver",),
            receiver=STR,
            groupBy=arr(STR),
            groupWait=DURATION,
            groupInterval=DURATION,
            repeatInterval=DURATION,
            matchers=arr(_MATCHER),
            **{"continue": BOOL},
        ),
        receivers=arr(
            obj(
                ("name",),
                name=STR,
                webhookConfigs=arr(
                    obj(
                        sendResolved=BOOL,
                        url=STR,
                        maxAlerts=INT,
                        httpConfig=obj(
                            authorization=obj(type=STR, credentials=_SECRET_KEY),
                        ),
                    )
                ),
            ),
            1,
        ),
    ),
)

KUSTOMIZATION: Schema = obj(
    ("apiVersion", "kind", "resources"),
    apiVersion={"const": "kustomize.config.k8s.io/v1beta1"},
    kind={"const": "Kustomization"},
    resources=arr(STR, 1),
)

CRD_SCHEMAS: dict[tuple[str, str], Schema] = {
    ("argoproj.io/v1alpha1", "Rollout"): ROLLOUT,
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): ANALYSIS_TEMPLATE,
    ("flagger.app/v1beta1", "Canary"): CANARY,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): ALERTMANAGER_CONFIG,
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): KUSTOMIZATION,
}
