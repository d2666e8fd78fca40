"""The generated-file YAML emitter against PyYAML's reader: what it writes loads back equal.

The emitter is hand-written (see `sloengine.generate.serialize` for why), so a reader that
is not ours checks it: any document of the shapes generated files use (mappings, lists,
strings, numbers, booleans) must load back as the same document, whatever the strings hold.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.generate.serialize import HEADER, dump_yaml

# Text YAML can carry at all: PyYAML refuses surrogates; everything else must survive,
# including control characters, NEL and the Unicode line separators.
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
_TRICKY = st.sampled_from(
    ["", " ", "yes", "No", "null", "~", "1e3", "0x10", "5m", "-", "- a", "a: b", "#x", "a #b",
     "'q'", '"q"', "{a}", "[a]", "&a", "*a", "!t", "%x", "@x", "`x", "a\nb", "a\n", "\na",
     " a\nb", "a\n\nb", "a\tb", "\x85", "a\u2028b", "\ufeffa", "\x7f", ":", "a:", "?", "|", ">"]
)  # fmt: skip
_SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | _TEXT
    | _TRICKY
)
_KEYS = _TEXT | _TRICKY
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_KEYS, _DOCUMENTS, max_size=5))
def test_every_document_loads_back_equal(document: dict[str, Any]) -> None:
    text = dump_yaml(document, source="specs/x.yaml")
    assert text.startswith(HEADER + "# Source: specs/x.yaml\n")
    assert yaml.safe_load(text) == document


def test_promql_stays_readable() -> None:
    expr = 'sum(rate(x{code=~"5.."}[5m]))\n/\nsum(rate(x[5m]))'
    text = dump_yaml({"expr": expr, "short": 'up{job="a"} == 0', "window": "5m", "ratio": 0.5})
    assert text.endswith(
        "expr: |-\n  sum(rate(x{code=~\"5..\"}[5m]))\n  /\n  sum(rate(x[5m]))\n"
        "short: 'up{job=\"a\"} == 0'\nwindow: '5m'\nratio: 0.5\n"
    )
