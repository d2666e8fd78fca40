"""Route templates (`/docs/{id}`) for the `route` label: the template, never the raw path.

Paths that match no template share `conventions.UNMATCHED_ROUTE`, so scanners and typos
cannot explode the label's cardinality. Static segments win over parameters, so
`/docs/latest` beats `/docs/{id}` whatever the order they were given in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sloengine.conventions import UNMATCHED_ROUTE

__all__ = ["RouteMatcher", "parse_route_templates"]

_PARAM = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_CACHE_MAX = 4096


def parse_route_templates(text: str) -> tuple[str, ...]:
    """Split a comma list of templates; raise ValueError naming a bad one."""
    templates = tuple(t.strip() for t in text.split(",") if t.strip())
    for template in templates:
        if not template.startswith("/"):
            raise ValueError(f"route template {template!r} must start with '/'")
        for segment in template.split("/")[1:]:
            if ("{" in segment or "}" in segment) and _PARAM.fullmatch(segment) is None:
                raise ValueError(
                    f"route template {template!r}: a parameter must be a whole segment like {{id}}"
                )
    return templates


class RouteMatcher:
    """Maps a request path (query string ignored) to its route template."""

    __slots__ = ("_cache", "_patterns", "_static")

    def __init__(self, templates: Sequence[str]) -> None:
        self._static = {t: t for t in templates if "{" not in t}
        dynamic = [t for t in templates if "{" in t]
        # Most static segments first, then longest: the most specific template wins.
        dynamic.sort(key=lambda t: (-sum(1 for s in t.split("/") if "{" not in s), -len(t)))
        self._patterns = [
            (re.compile("".join(_segment_regex(s) for s in t.split("/")[1:])), t) for t in dynamic
        ]
        self._cache: dict[bytes | str, str] = {}

    def match(self, target: bytes | str) -> str:
        """The template for `target` (a path, maybe with a query), or UNMATCHED_ROUTE."""
        cached = self._cache.get(target)
        if cached is not None:
            return cached
        text = target.decode("latin-1") if isinstance(target, bytes) else target
        path = text.partition("?")[0]
        route = self._static.get(path)
        if route is None:
            route = UNMATCHED_ROUTE
            for pattern, template in self._patterns:
                if pattern.fullmatch(path):
                    route = template
                    break
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[target] = route
        return route


def _segment_regex(segment: str) -> str:
    if _PARAM.fullmatch(segment):
        return "/[^/]+"
    return "/" + re.escape(segment)
