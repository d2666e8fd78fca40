"""Every W3C Trace Context rule, on the pure module (Level 1 traceparent, Level 2 random
flag and tracestate).

Level 2 tracestate key rule (https://www.w3.org/TR/trace-context-2/#key):
`key = ( lcalpha / DIGIT ) 0*255 ( keychar )`, keychar = lcalpha / DIGIT / `_-*/@`; the
Level 1 two-rule grammar (simple-key starting with a letter; `tenant@system` 241@14) is
gone, and w3c/trace-context test/test.py (#584) asserts the Level 2 reading.
"""

from __future__ import annotations

import random

import pytest

from sloengine.telemetry.tracecontext import (
    FLAG_RANDOM,
    FLAG_SAMPLED,
    IdGenerator,
    TraceParent,
    continue_trace,
    format_tracestate,
    parse_traceparent,
    parse_tracestate,
    truncate_tracestate,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{PARENT}-01"


def ids() -> IdGenerator:
    return IdGenerator(random.Random(7))


# --- traceparent --------------------------------------------------------------------------


def test_valid_version_00_is_parsed() -> None:
    assert parse_traceparent(VALID) == TraceParent(0, TRACE, PARENT, 1)


def test_optional_whitespace_around_the_value_is_ignored() -> None:
    assert parse_traceparent(f" \t{VALID}\t ") == TraceParent(0, TRACE, PARENT, 1)


@pytest.mark.parametrize(
    "value",
    [
        "",
        VALID[:-1],  # too short
        VALID + "0",  # version 00 must be exactly 55 characters
        VALID + "-extra",  # ... even with a separator
        VALID.upper(),
        f"00-{TRACE.upper()}-{PARENT}-01",
        f"00-{TRACE}-{PARENT.upper()}-01",
        f"00-{TRACE}-{PARENT}-0A",  # uppercase flags
        f"0A-{TRACE}-{PARENT}-01",  # uppercase version
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace-id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent-id
        f"00-{TRACE[:-1]}g-{PARENT}-01",  # non-hex
        f"00-{TRACE}-{PARENT[:-1]}z-01",
        f"00-{TRACE}-{PARENT}-0x",
        f"zz-{TRACE}-{PARENT}-01",
        f"00-{TRACE}1-{PARENT}-01",  # trace-id too long
        f"00-{TRACE[:-1]}-{PARENT}-01",  # trace-id too short
        f"00-{TRACE}-{PARENT}1-01",
        f"00-{TRACE}-{PARENT[:-1]}-01",
        f"00-{TRACE}-{PARENT}-1",  # flags too short
        f"00-{TRACE}-{PARENT}-001",
        f"00_{TRACE}_{PARENT}_01",  # wrong separator
        f"0-{TRACE}-{PARENT}-01",
        f"ff-{TRACE}-{PARENT}-01",  # version ff is forbidden
        f"ff-{TRACE}-{PARENT}-01-what-the-future-holds",
    ],
)
def test_invalid_traceparent_is_rejected(value: str) -> None:
    assert parse_traceparent(value) is None


def test_future_version_parses_the_four_known_fields() -> None:
    assert parse_traceparent(f"cc-{TRACE}-{PARENT}-01") == TraceParent(0xCC, TRACE, PARENT, 1)


def test_future_version_may_be_longer_after_a_dash() -> None:
    tp = parse_traceparent(f"cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like")
    assert tp == TraceParent(0xCC, TRACE, PARENT, 1)


@pytest.mark.parametrize(
    "value",
    [
        f"cc-{TRACE}-{PARENT}-01.what-the-future-will-not-be-like",
        f"cc-{TRACE}-{PARENT}-011",
        f"cc-{TRACE}-{PARENT}",
        f"cc-{TRACE}-{'0' * 16}-01-x",
    ],
)
def test_future_version_still_needs_valid_known_fields(value: str) -> None:
    assert parse_traceparent(value) is None


def test_future_version_is_sent_on_as_version_00_with_unknown_flags_zeroed() -> None:
    hop = continue_trace([f"cc-{TRACE}-{PARENT}-ff-future"], [], ids())
    assert hop.traceparent.startswith(f"00-{TRACE}-")
    assert hop.traceparent.endswith("-03")


@pytest.mark.parametrize(
    ("flags", "out"),
    [("00", "00"), ("01", "01"), ("02", "02"), ("03", "03"), ("09", "01"), ("fe", "02")],
)
def test_flags_are_propagated_and_unknown_bits_zeroed(flags: str, out: str) -> None:
    hop = continue_trace([f"00-{TRACE}-{PARENT}-{flags}"], [], ids())
    assert hop.traceparent[-2:] == out
    assert not hop.restarted


def test_valid_traceparent_is_continued_with_a_new_parent_id() -> None:
    hop = continue_trace([VALID], [], ids())
    assert hop.trace_id == TRACE
    assert hop.parent_span_id == PARENT
    assert hop.span_id != PARENT and len(hop.span_id) == 16
    assert hop.traceparent == f"00-{TRACE}-{hop.span_id}-01"


def test_every_hop_gets_a_different_parent_id() -> None:
    gen = ids()
    span_ids = {continue_trace([VALID], [], gen).span_id for _ in range(100)}
    assert len(span_ids) == 100


def test_missing_traceparent_starts_a_trace_with_the_random_flag() -> None:
    hop = continue_trace([], [], ids())
    assert hop.restarted and hop.parent_span_id is None
    assert int(hop.traceparent[-2:], 16) & FLAG_RANDOM
    assert parse_traceparent(hop.traceparent) is not None


def test_invalid_traceparent_restarts_the_trace_and_drops_tracestate() -> None:
    hop = continue_trace([VALID.upper()], ["foo=bar"], ids())
    assert hop.restarted and hop.trace_id != TRACE.upper().lower()
    assert hop.tracestate is None
    assert hop.flags == FLAG_SAMPLED | FLAG_RANDOM


def test_restart_flags_can_leave_sampled_off_but_never_random() -> None:
    hop = continue_trace(["garbage"], [], ids(), restart_flags=0)
    assert hop.traceparent.endswith("-02")


def test_two_traceparent_headers_restart_the_trace() -> None:
    other = f"00-{'1' * 32}-{PARENT}-01"
    hop = continue_trace([VALID, other], ["foo=bar"], ids())
    assert hop.restarted and hop.tracestate is None


def test_generated_ids_are_lowercase_hex_and_never_zero() -> None:
    class Zeros(random.Random):
        def __init__(self) -> None:
            super().__init__(1)
            self.calls = 0

        def getrandbits(self, k: int) -> int:
            self.calls += 1
            return 0 if self.calls == 1 else super().getrandbits(k)

    gen = IdGenerator(Zeros())
    trace_id = gen.trace_id()
    assert trace_id != "0" * 32 and trace_id == trace_id.lower() and len(trace_id) == 32


class _Draws(random.Random):
    """Returns the given values from getrandbits, in order."""

    def __init__(self, *values: int) -> None:
        super().__init__(1)
        self.values = list(values)

    def getrandbits(self, k: int) -> int:
        return self.values.pop(0)


def test_ids_keep_their_leading_zeros() -> None:
    gen = IdGenerator(_Draws(1, 0xAB))
    assert gen.trace_id() == "0" * 31 + "1"
    assert gen.span_id() == "0" * 14 + "ab"


def test_a_new_trace_redraws_an_all_zero_trace_id_or_span_id() -> None:
    zero_trace = 5  # top 128 bits zero
    zero_span = 7 << 64  # low 64 bits zero
    good = (0xABC << 64) | 0xDEF
    trace_id, span_id = IdGenerator(_Draws(zero_trace, zero_span, good)).trace_and_span_id()
    assert trace_id == "0" * 29 + "abc" and span_id == "0" * 13 + "def"


def test_a_restarted_hop_sends_a_valid_version_00_traceparent() -> None:
    hop = continue_trace([], [], ids())
    assert hop.traceparent == f"00-{hop.trace_id}-{hop.span_id}-03"
    parsed = parse_traceparent(hop.traceparent)
    assert parsed is not None and parsed.flags == FLAG_SAMPLED | FLAG_RANDOM


# --- tracestate ---------------------------------------------------------------------------


def test_tracestate_members_keep_their_order() -> None:
    assert parse_tracestate(["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"]) == (
        ("rojo", "00f067aa0ba902b7"),
        ("congo", "t61rcWkgMzE"),
    )


def test_several_tracestate_headers_form_one_list() -> None:
    assert parse_tracestate(["a=1", "b=2,c=3"]) == (("a", "1"), ("b", "2"), ("c", "3"))


def test_empty_members_and_whitespace_are_skipped() -> None:
    assert parse_tracestate([" a=1 ,, \t,b=2 ,"]) == (("a", "1"), ("b", "2"))
    assert parse_tracestate([""]) == ()


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "a" * 256,
        "a0_-*/",
        "tenant@system",
        "0tenant@sys",
        "t" * 241 + "@" + "s" * 14,
        # Level 2: a key may start with a digit, and `@` is an ordinary keychar after the
        # first character, so these Level 1 rejections are now valid keys.
        "0abc",
        "t@",
        "t@0s",
        "t" * 242 + "@s",
        "t@" + "s" * 15,
        "t@s@x",
        "0" * 256,
    ],
)
def test_valid_keys(key: str) -> None:
    assert parse_tracestate([f"{key}=v"]) == ((key, "v"),)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "A",
        "a" * 257,
        "t" * 250 + "@" + "s" * 6,  # 257 characters in all
        "a.b",
        "a b",
        "@s",  # the first character is a letter or a digit, never `@`
        "_a",
        "*a",
        "/a",
        "-a",
        "T@s",
        "t@S",
        "a=b",
    ],
)
def test_invalid_key_invalidates_the_whole_tracestate(key: str) -> None:
    assert parse_tracestate([f"ok=1,{key}=v"]) is None


@pytest.mark.parametrize("value", ["v", "v" * 256, "a b", " x", "!~\"#$%&'()*+-./:;<>?@[]^_`{|}"])
def test_valid_values(value: str) -> None:
    # A value may start with (but not end with) a space.
    assert parse_tracestate([f"k={value}"]) == (("k", value),)


@pytest.mark.parametrize("value", ["", "v" * 257, "a=b", "a\x7f", "é", "a\x1f", "tab\tin"])
def test_invalid_value_invalidates_the_whole_tracestate(value: str) -> None:
    assert parse_tracestate([f"k={value}"]) is None


def test_member_without_equals_is_invalid() -> None:
    assert parse_tracestate(["a=1,b"]) is None


def test_duplicated_key_keeps_the_left_most_member_and_the_others() -> None:
    # Level 2 "Combined Header Value": the left-most entry is the most recent position;
    # "Mutating the tracestate Field": vendors MAY discard duplicate keys. The official
    # suite (test_tracestate_duplicated_keys) asks that the list be inherited with one value.
    assert parse_tracestate(["a=1,b=2,a=3"]) == (("a", "1"), ("b", "2"))
    assert parse_tracestate(["a=1", "a=2"]) == (("a", "1"),)
    assert parse_tracestate(["foo=1,foo=1"]) == (("foo", "1"),)
    assert parse_tracestate(["x@v=1,y=2,x@v=3,y=4,z=5"]) == (("x@v", "1"), ("y", "2"), ("z", "5"))


def test_duplicated_key_is_sent_on_once() -> None:
    assert continue_trace([VALID], ["foo=1", "bar=2,foo=2"], ids()).tracestate == "foo=1,bar=2"


def test_an_invalid_member_still_discards_the_whole_list() -> None:
    # The suite's "illegal" cases: `@foo=1,bar=2` must not pass `bar` on.
    assert parse_tracestate(["@foo=1,bar=2"]) is None
    assert parse_tracestate(["foo=1", "z" * 257 + "=1"]) is None
    assert continue_trace([VALID], ["@foo=1,bar=2"], ids()).tracestate is None


def test_ows_around_members_is_ignored_but_leading_value_spaces_are_kept() -> None:
    assert parse_tracestate(["foo=1 \t , \t bar=2, \t baz=3"]) == (
        ("foo", "1"),
        ("bar", "2"),
        ("baz", "3"),
    )
    assert parse_tracestate(["\t foo=1 \t"]) == (("foo", "1"),)
    assert parse_tracestate(["foo=  1"]) == (("foo", "  1"),)  # value = 0*255(chr) nblk-chr
    assert parse_tracestate(["foo=   "]) is None  # only spaces: no nblk-chr


def test_empty_tracestate_headers_are_accepted_among_others() -> None:
    assert parse_tracestate(["foo=1", ""]) == (("foo", "1"),)
    assert parse_tracestate(["", "foo=1"]) == (("foo", "1"),)
    assert parse_tracestate(["", " ", "\t"]) == ()


def test_all_allowed_key_and_value_characters() -> None:
    key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
    value = "".join(map(chr, [*range(0x20, 0x2C), *range(0x2D, 0x3D), *range(0x3E, 0x7F)]))
    for k in (key, key + "@a-z0-9_-*/"):
        assert parse_tracestate([f"{k}={value}"]) == ((k, value),)


def test_a_key_of_256_characters_with_at_signs_anywhere() -> None:
    for key in ("z" * 256, "t" * 241 + "@" + "v" * 14, "t" * 242 + "@v", "t@" + "v" * 15):
        assert parse_tracestate(["foo=1", f"{key}=1"]) == (("foo", "1"), (key, "1"))


def test_at_most_32_members() -> None:
    members = [f"k{i}=v" for i in range(32)]
    assert parse_tracestate([",".join(members)]) is not None
    assert parse_tracestate([",".join([*members, "k32=v"])]) is None


def test_32_members_with_empty_ones_between_is_fine() -> None:
    assert parse_tracestate([",,".join(f"k{i}=v" for i in range(32))]) is not None


def test_32_members_split_across_headers_and_33_discarded() -> None:
    first = [",".join(f"bar{i:02d}={i:02d}" for i in range(1, 31)), "bar31=31,bar32=32"]
    parsed = parse_tracestate(first)
    assert parsed is not None and len(parsed) == 32 and parsed[0] == ("bar01", "01")
    assert parse_tracestate([*first[:1], "bar31=31,bar32=32,bar33=33"]) is None


def test_a_duplicate_counts_towards_the_32_members() -> None:
    # The limit is on the list received: 33 list-members is too many, duplicates or not.
    assert parse_tracestate([",".join(["a=1"] * 33)]) is None
    assert parse_tracestate([",".join(["a=1"] * 32)]) == (("a", "1"),)


def test_short_lists_are_not_truncated() -> None:
    members = tuple((f"k{i}", "v" * 10) for i in range(32))
    assert truncate_tracestate(members) == members


def test_truncation_removes_whole_entries_from_the_end() -> None:
    members = tuple((f"k{i:02d}", "v" * 60) for i in range(10))  # 64 chars each
    kept = truncate_tracestate(members)
    assert kept == members[:7]  # 7 * 64 + 6 = 454; 8 entries would be 519
    assert len(format_tracestate(members)) <= 512


def test_truncation_removes_entries_over_128_chars_first() -> None:
    long_entry = ("big", "x" * 200)
    members = (("a", "1"), long_entry, *((f"k{i}", "v" * 100) for i in range(3)), ("z", "9"))
    kept = truncate_tracestate(members)
    assert long_entry not in kept
    assert kept == (("a", "1"), *((f"k{i}", "v" * 100) for i in range(3)), ("z", "9"))


def test_truncation_keeps_long_entries_when_the_list_fits() -> None:
    members = (("big", "x" * 200), ("a", "1"))
    assert truncate_tracestate(members) == members


def test_continued_trace_carries_normalised_tracestate() -> None:
    hop = continue_trace([VALID], [" rojo=1 ,, congo=2"], ids())
    assert hop.tracestate == "rojo=1,congo=2"


def test_invalid_tracestate_is_dropped_but_the_trace_continues() -> None:
    hop = continue_trace([VALID], ["a=1,B=2"], ids())
    assert hop.tracestate is None and hop.trace_id == TRACE and not hop.restarted


def test_empty_tracestate_is_not_sent() -> None:
    assert continue_trace([VALID], [" , "], ids()).tracestate is None
