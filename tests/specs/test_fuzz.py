"""Whatever the input, loading ends in a Catalog or in SpecErrors: never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloengine.errors import SpecErrors
from sloengine.specs import load_catalog

REPO = Path(__file__).parents[2]
SEEDS = [
    doc
    for name in ("demo-services.yaml", "openslo-ingest.yaml", "sloth-gateway.yml")
    for doc in yaml.safe_load_all((REPO / "examples/slos" / name).read_text())
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["{{.window}}", "5m", "0.5", "Prometheus", "openslo/v1", "99.9", "x{"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += _paths(child, (*prefix, i))
    return found


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replaced(node[path[0]], path[1:], value)
    return copy


def _load_text(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_bytes(data)
        try:
            load_catalog([path])
        except SpecErrors as errs:
            assert errs.errors
            assert all("\n" not in e.line() for e in errs.errors)


@settings(
    max_examples=int(__import__("os").environ.get("FUZZ_N", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_specs_load_or_fail_with_spec_errors(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS))
    path = data.draw(st.sampled_from(_paths(seed)))
    mutated = _replaced(seed, path, data.draw(values))
    _load_text(yaml.safe_dump_all([mutated], allow_unicode=True).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_load_or_fail_with_spec_errors(data: bytes) -> None:
    _load_text(data)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}|>&*!'\" \n\t#%@`,?0.")), max_size=80))
def test_yaml_punctuation_soup_loads_or_fails_with_spec_errors(text: str) -> None:
    _load_text(text.encode())
