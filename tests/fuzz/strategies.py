"""Hypothesis strategies for malformed input: JSON of the wrong shape, hostile numbers and
strings, raw bodies, query strings and content types."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

# Names the engine's handlers read, so random requests reach real code paths.
PARAM_NAMES = (
    "service", "canary", "baseline", "revision", "eval_time", "short_window", "long_window",
    "name", "range", "limit", "metadata", "alerts", "labels", "annotations", "status",
    "version", "groupKey", "truncatedAlerts", "receiver", "groupLabels", "commonLabels",
    "commonAnnotations", "externalURL", "namespace", "phase", "checksum", "startsAt",
    "fingerprint", "rollback", "alertname", "token",
)  # fmt: skip
SERVICES = ("checkout", "search", "unknown-svc", "")

hostile_numbers = st.sampled_from(
    [0, -1, 1e300, -1e300, 1.7e308, 2**63, -(2**63), 2**64, 1e-300, 5e-324, 253402300800,
     1_800_000_000, 0.5, 300, 2_592_001]
)  # fmt: skip
hostile_texts = st.sampled_from(
    ["", " ", "nan", "NaN", "inf", "-inf", "Infinity", "1e300", "-1", "1e400", "0x10",
     "9" * 30, "5m", "1h", "30d", "31d", "0s", "-5m", "--evil-flag", "a\x00b", "\u202e",
     "😀", "x" * 5000, "checkout", "canary", "baseline", "stable", "1h", "7d", "limit",
     "1800000000", "1800000000.5", "true", "null", "[]", "{}", "%ff", "../../etc/passwd"]
)  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    hostile_numbers,
    hostile_texts,
)
keys = st.one_of(st.sampled_from(PARAM_NAMES), st.text(max_size=12))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=12,
)
json_objects = st.dictionaries(keys, json_values, max_size=8)


def _deep(depth: int, open_: str, close: str) -> bytes:
    return (open_ * depth + close * depth).encode()


# Bodies no JSON parser should choke on: deep nesting, non-JSON constants, huge literals,
# invalid UTF-8, truncation.
raw_bodies = st.one_of(
    st.binary(max_size=256),
    st.sampled_from(
        [
            b"",
            _deep(100_000, "[", "]"),
            b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
            b"[" * 50_000,
            b'{"alerts": ' + b"[" * 2_000 + b"]" * 2_000 + b"}",
            b"NaN",
            b'{"eval_time": NaN}',
            b'{"eval_time": Infinity}',
            b'{"eval_time": 1e999}',
            b'{"eval_time": ' + b"9" * 5000 + b"}",
            b'{"service": "\xff\xfe"}',
            b"\xef\xbb\xbf{}",
            b'{"service": "checkout"',
            b'{"alerts": [{"labels": {"rollback": "true", "service": "checkout"}, "annotations": "x"}]}',
            b"service=checkout&eval_time=1e300",
            b"service=%ff%fe&canary=\xff",
            b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--",
        ]
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    json_objects.map(lambda v: json.dumps(v).encode()),
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=latin-1",
        "application/merge-patch+json",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=bogus-charset",
        "multipart/form-data; boundary=x",
        "multipart/form-data",
        "text/plain",
        "application/octet-stream",
        "garbage",
    ]
)


def _query_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    """A raw query string: known and random names, hostile values, broken escapes."""
    pairs = draw(
        st.lists(st.tuples(keys, st.one_of(scalars, hostile_texts).map(_query_value)), max_size=6)
    )
    parts = [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs]
    parts += draw(
        st.lists(st.sampled_from(["%ff", "a=%", "=", "&&", "b=%zz", "c=%C3%28"]), max_size=2)
    )
    return "&".join(parts)
