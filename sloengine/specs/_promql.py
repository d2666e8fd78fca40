"""PromQL in specs: `{{.window}}` templates, counter selectors, and parse checks.

The model stores queries as templates with the window spelled exactly `{{.window}}` (Go
template spacing such as `{{ .window }}` is normalised), so generators substitute one
literal string (`model.WINDOW_TEMPLATE`, substituted by `model.render_window`). Every
query is parsed with `promql-parser` after substituting a window.
"""

from __future__ import annotations

import re

import promql_parser

from sloengine.model import WINDOW_TEMPLATE as WINDOW
from sloengine.model import render_window as render
from sloengine.specs._fields import At

_WINDOW_RE = re.compile(r"\{\{-?\s*\.window\s*-?\}\}")
_ANY_TEMPLATE_RE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
# Substituted for {{.window}} when parsing; any valid duration would do.
CHECK_WINDOW = "5m"


def parse(expr: str, at: At) -> promql_parser.Expr:
    """Parse PromQL; a syntax error becomes `invalid PromQL: <parser message>`."""
    try:
        parsed = promql_parser.parse(expr)
    except ValueError as exc:
        raise at.error(f"invalid PromQL: {exc}") from None
    inner = parsed
    while isinstance(inner, promql_parser.ParenExpr):
        inner = inner.expr
    if isinstance(inner, promql_parser.MatrixSelector | promql_parser.SubqueryExpr):
        raise at.error("must return an instant vector, not a range vector")
    if isinstance(inner, promql_parser.StringLiteral):
        raise at.error("must return an instant vector, not a string")
    return parsed


def template(query: object, at: At) -> str:
    """A query that must contain `{{.window}}` (Sloth, OpenSLO templates); checked, normalised."""
    if not isinstance(query, str) or not query.strip():
        raise at.error("expected a non-empty PromQL query string")
    text = _WINDOW_RE.sub(WINDOW, query.strip())
    if WINDOW not in text:
        raise at.error(f"must use the {WINDOW} template variable for the window")
    _check_template(text, at)
    return text


def _check_template(text: str, at: At) -> None:
    leftover = _ANY_TEMPLATE_RE.search(text.replace(WINDOW, ""))
    if leftover:
        raise at.error(f"unsupported template {leftover.group(0)!r} (only {WINDOW} is supported)")
    parse(render(text, CHECK_WINDOW), at)


def gauge_or_template(query: object, at: At) -> str:
    """A precomputed ratio: a template with `{{.window}}`, or a gauge selector averaged over
    the window (`avg_over_time(<selector>[{{.window}}])`)."""
    if not isinstance(query, str) or not query.strip():
        raise at.error("expected a non-empty PromQL query string")
    text = _WINDOW_RE.sub(WINDOW, query.strip())
    if WINDOW in text:
        _check_template(text, at)
        return text
    selector(text, at)
    return f"avg_over_time({text}[{WINDOW}])"


def counter_or_template(query: object, at: At, *, counter: bool) -> str:
    """OpenSLO's Prometheus query: a template with `{{.window}}`, or a counter selector.

    A bare selector such as `http_requests_total{service="x"}` with `counter: true` becomes
    `sum(rate(<selector>[{{.window}}]))`.
    """
    if not isinstance(query, str) or not query.strip():
        raise at.error("expected a non-empty PromQL query string")
    text = _WINDOW_RE.sub(WINDOW, query.strip())
    if WINDOW in text:
        _check_template(text, at)
        return text
    parsed = parse(text, at)
    if not isinstance(parsed, promql_parser.VectorSelector):
        raise at.error(f"must be a counter selector or a query template using {WINDOW}")
    if parsed.offset is not None or parsed.at is not None:
        raise at.error("a counter selector cannot carry offset or @ modifiers")
    if not counter:
        raise at.error(
            "a bare selector is read as a counter and needs counter: true "
            f"(or write a query template using {WINDOW})"
        )
    return f"sum(rate({text}[{WINDOW}]))"


def selector(query: object, at: At) -> promql_parser.VectorSelector:
    """A plain vector selector (no functions, no templates), e.g. a histogram's name."""
    if not isinstance(query, str) or not query.strip():
        raise at.error("expected a non-empty PromQL selector string")
    parsed = parse(query.strip(), at)
    if not isinstance(parsed, promql_parser.VectorSelector):
        raise at.error("must be a plain metric selector, e.g. http_request_duration_seconds{}")
    if parsed.offset is not None or parsed.at is not None:
        raise at.error("a selector cannot carry offset or @ modifiers")
    return parsed
