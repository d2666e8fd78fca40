"""Pure linkage maths over a set of spans (no I/O).

Two ratios, both with a goal of 1.0:
- parent linkage: of the spans that name a parent, the share whose parent was collected.
  Entry spans (server spans of the entry service whose parent is absent) are requests
  arriving from outside the collection (a load generator, a proxy) and are not counted
  as broken links: they are the roots the second ratio starts from.
- request coverage: of those requests, the share whose span tree reaches a server span of
  another service and, below it, a database span (`db.system` set): gateway -> service -> DB.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

__all__ = ["LinkageReport", "SpanRecord", "linkage_report"]

KIND_SERVER = "SERVER"


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """The fields of a span that linkage needs (ids as lowercase hex)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    service: str
    db_system: str | None = None
    route: str | None = None  # http.route of server spans

    @property
    def is_db(self) -> bool:
        """A database client span (it has `db.system`)."""
        return self.db_system is not None


@dataclass(frozen=True)
class LinkageReport:
    """Counts behind the two linkage ratios, and what was not linked."""

    spans: int
    traces: int
    with_parent: int
    parent_present: int
    requests: int
    covered_requests: int
    entry_service: str
    orphans_by_name: dict[str, int] = field(default_factory=dict)
    uncovered_by_name: dict[str, int] = field(default_factory=dict)

    @property
    def parent_ratio(self) -> float:
        """Share of spans with a parent whose parent is present (1.0 when none has one)."""
        return self.parent_present / self.with_parent if self.with_parent else 1.0

    @property
    def coverage_ratio(self) -> float:
        """Share of entry requests covering entry -> service -> DB (0.0 with no request)."""
        return self.covered_requests / self.requests if self.requests else 0.0


def linkage_report(
    spans: Iterable[SpanRecord],
    entry_service: str = "gateway",
    routes: Collection[str] | None = None,
) -> LinkageReport:
    """Linkage ratios of `spans`, with requests rooted at `entry_service` server spans.

    `routes` (route templates) limits the requests counted to those routes, e.g. the key
    paths, leaving out admin and unmatched requests that never go downstream.
    """
    by_id: dict[tuple[str, str], SpanRecord] = {}
    for span in spans:
        by_id[(span.trace_id, span.span_id)] = span  # a span exported twice counts once
    children: dict[tuple[str, str], list[SpanRecord]] = defaultdict(list)
    with_parent = present = 0
    orphans: Counter[str] = Counter()
    roots: list[SpanRecord] = []
    for span in by_id.values():
        is_entry = span.kind == KIND_SERVER and span.service == entry_service
        if span.parent_span_id is None:
            if is_entry:
                roots.append(span)
            continue
        parent_key = (span.trace_id, span.parent_span_id)
        if parent_key in by_id:
            with_parent += 1
            present += 1
            children[parent_key].append(span)
        elif is_entry:
            roots.append(span)  # its caller is outside the collection
        else:
            with_parent += 1
            orphans[span.name] += 1
    if routes is not None:
        wanted = frozenset(routes)
        roots = [r for r in roots if r.route in wanted]
    covered = 0
    uncovered: Counter[str] = Counter()
    for root in roots:
        if _covers_service_and_db(root, children, entry_service):
            covered += 1
        else:
            uncovered[root.name] += 1
    return LinkageReport(
        spans=len(by_id),
        traces=len({key[0] for key in by_id}),
        with_parent=with_parent,
        parent_present=present,
        requests=len(roots),
        covered_requests=covered,
        entry_service=entry_service,
        orphans_by_name=dict(orphans.most_common()),
        uncovered_by_name=dict(uncovered.most_common()),
    )


def _covers_service_and_db(
    root: SpanRecord,
    children: dict[tuple[str, str], list[SpanRecord]],
    entry_service: str,
) -> bool:
    # Depth-first, carrying whether a downstream service's server span is above us.
    stack: list[tuple[SpanRecord, bool]] = [(root, False)]
    while stack:
        span, below_service = stack.pop()
        if below_service and span.is_db:
            return True
        for child in children.get((span.trace_id, span.span_id), ()):
            entered = child.kind == KIND_SERVER and child.service != entry_service
            stack.append((child, below_service or entered))
    return False
