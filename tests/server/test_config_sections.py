"""Every section of the engine config is validated the same way (`sloengine.settings.fields`): a bad
value is one SpecError line naming the file and the field's full path, and a valid section
reads as the documented values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sloengine.canary import audit_path, parse_canary
from sloengine.errors import SpecError
from sloengine.hooks import parse_hooks
from sloengine.pipelines import RedMapping, receiver_options
from sloengine.settings.fields import At

Parser = Callable[[Any, str], object]

CASES: list[tuple[Parser, Any, str]] = [
    (parse_canary, [1], "canary: expected a mapping"),
    (parse_canary, {"alpah": 0.01}, "canary.alpah: unknown key; known: alpha, "),
    (parse_canary, {"alpha": 0.9}, "canary.alpha: must be a number in [1e-12, 0.5], got 0.9"),
    (parse_canary, {"long_window": "1 hour"}, "canary.long_window: invalid duration '1 hour'"),
    (parse_canary, {"short_window": "2h"}, "canary.short_window: must not be longer than"),
    (parse_canary, {"services": {"gw": {"guards": ["p99"]}}}, "canary.services.gw.guards: "),
    (parse_canary, {"defaults": {"rollback_on_fail": "yes"}},
     "canary.defaults.rollback_on_fail: must be true or false"),
    (parse_hooks, {"gw": {"command": ["x"], "retries": -1}},
     "hooks.gw.retries: must be an integer >= 0"),
    (parse_hooks, {"gw": {"command": ["x"], "timeout": "soon"}}, "hooks.gw.timeout: invalid"),
    (parse_hooks, {"gw": {"webhook": {"url": "http://x", "headers": [1]}}},
     "hooks.gw.webhook.headers: expected a mapping"),
    (lambda raw, file: audit_path(raw, None, file), {"audit": {"path": ""}},
     "audit.path: must be a non-empty string"),
    (lambda raw, file: audit_path(raw, None, file), {"audit": {"paht": "x"}},
     "audit.paht: unknown key; known: path"),
    (receiver_options, {"initial": "maybe"},
     "pipelines.initial: must be one of keep, drop, got 'maybe'"),
    (receiver_options, {"mapping": {"requests_from": "gauge"}},
     "pipelines.mapping.requests_from: must be one of histogram, counter, got 'gauge'"),
    (receiver_options, {"mapping": {"labels": {"pod": "x"}}},
     "pipelines.mapping.labels.pod: not an engine label; known: service, "),
    (receiver_options, {"otlp": {"variant_attribute": ""}},
     "pipelines.otlp.variant_attribute: must be an attribute name"),
    (receiver_options, {"otlp": {"colour": "x"}}, "pipelines.otlp.colour: unknown key"),
]  # fmt: skip


@pytest.mark.parametrize(("parse", "section", "line"), CASES)
def test_a_bad_value_names_the_file_and_the_field_path(
    parse: Parser, section: Any, line: str
) -> None:
    with pytest.raises(SpecError) as err:
        parse(section, "engine.yaml")
    assert str(err.value).startswith(f"engine.yaml: {line}")
    assert "\n" not in str(err.value)


def test_absent_and_null_values_take_the_defaults() -> None:
    assert parse_canary({"alpha": None, "defaults": {"max_burn_rate": None}}) == parse_canary(
        None
    )
    (hook,) = parse_hooks({"gw": {"command": ["x"], "retries": None, "cooldown": 0}}).values()
    assert (hook.retries, hook.cooldown_seconds, hook.timeout_seconds) == (3, 0.0, 30.0)
    options = receiver_options({"mapping": {"requests_from": "counter"}})
    assert options["keep_initial"] is True
    assert options["mapping"] == RedMapping(requests_from="counter")


def test_a_key_that_is_no_plain_name_is_quoted_in_the_path() -> None:
    assert At("f.yaml", "hooks").key("docs-api").path == "hooks.docs-api"
    assert At("f.yaml", "hooks").key("a b\n").path == 'hooks["a b\\n"]'
    assert str(At("", "--variant").error("must be\none line")) == "--variant: must be\\none line"
